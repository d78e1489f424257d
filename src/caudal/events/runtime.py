"""The events domain's long-lived objects in a process (provided by `events.capability`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from caudal.events.catalog import SchemaCatalog
from caudal.events.ingest import IngestService
from caudal.events.intake import Limits
from caudal.events.lake_files import LakeFiles, default_url
from caudal.events.pii import CpfTokenizer, Tokenizers
from caudal.events.quarantine_seal import QuarantineSealer
from caudal.platform.bootstrap import Container
from caudal.platform.bus.port import Bus
from caudal.platform.db.arrays import send_lists_in_binary
from caudal.platform.db.pool import Database
from caudal.platform.kms_backend import build_kms


@dataclass
class EventsRuntime:
    catalog: SchemaCatalog
    ingest: IngestService
    limits: Limits
    bus: Bus
    sealer: QuarantineSealer


def build(container: Container) -> EventsRuntime:
    settings = container.settings.events
    bus = container.bus
    sealer = build_sealer(container)
    # One group commit in flight per process (`group_commit`): the requests that arrive during
    # a commit wait for the next statement together. With two in flight a newcomer found a free
    # connection and went out in a small group of its own: ~11 events per statement at c=64,
    # ×1, over 2 API processes, ~14 with one; 190 → 300 at ×20. PostgreSQL's fixed work per
    # statement (protocol, executor, the durable commit) and the API's round trip are paid per
    # group (bench/profiles/README.md). The second connection serves only a commit started
    # beside a stalled one. Its connections stay in autocommit (each commit is one statement):
    # no switch to autocommit and back on every checkout, and their list parameters travel in
    # binary from the start.
    hot_path = Database(
        container.app_url,
        min_size=1,
        max_size=2,
        statement_timeout_ms=container.settings.database_statement_timeout_ms,
        autocommit=True,
        configure=send_lists_in_binary,
    )
    return EventsRuntime(
        sealer=sealer,
        catalog=SchemaCatalog(container.database, settings.schemas_dir),
        ingest=IngestService(container.database, bus, sealer, hot_path),
        limits=Limits(max_items=settings.max_items, max_depth=settings.max_depth),
        bus=bus,
    )


def build_sealer(container: Container) -> QuarantineSealer:
    ttl = timedelta(days=container.settings.events.quarantine_ttl_days)
    return QuarantineSealer(
        build_kms(container.settings), ttl, container.clock, lambda: cpf_tokens(container)
    )


def get(container: Container) -> EventsRuntime:
    return container.states.get(EventsRuntime)


def cpf_tokens(container: Container) -> CpfTokenizer | None:
    """The CPF tokenizer another capability provides (customers), None when none is started:
    then an event with a CPF field is refused with a 503, never stored in clear."""
    found = container.states.find(Tokenizers)
    return None if found is None else found.cpf


async def close(events: EventsRuntime, container: Container) -> None:
    if events.ingest.group.opened and events.ingest.hot_path is not container.database:
        await events.ingest.hot_path.close()


def lake_files(container: Container) -> LakeFiles:
    url = container.settings.lake.url or default_url(container.settings.home)
    return LakeFiles(url)
