"""The ledger's long-lived objects of one process, kept in `container.extensions["ledger"]`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from caudal.ledger.cache import MicroCache
from caudal.ledger.engine import PostingEngine
from caudal.ledger.intake import Intake
from caudal.ledger.reads import Reads
from caudal.ledger.validation import Rules
from caudal.platform.bootstrap import Container


@dataclass
class Ledger:
    container: Container
    intake: Intake
    engine: PostingEngine
    reads: Reads
    report_cache: MicroCache

    def rules(self) -> Rules:
        return Rules(
            today=datetime.now(UTC).date(),
            backdate_days=self.container.settings.ledger.backdate_days,
        )


def get(container: Container) -> Ledger:
    ledger = container.extensions.get("ledger")
    if ledger is None:
        settings = container.settings.ledger
        ledger = Ledger(
            container=container,
            intake=Intake(container.database, container.bus, settings.topic),
            engine=PostingEngine(container.database, container.bus),
            reads=Reads(container.database),
            report_cache=MicroCache(settings.consolidated_cache_seconds),
        )
        container.extensions["ledger"] = ledger
    assert isinstance(ledger, Ledger)
    return ledger
