"""Quarantine: invalid events kept with their reason and their payload sealed at rest
(`quarantine_seal.py`); listed (metadata only), revealed while the payload's day key exists, and
replayed once their schema is fixed (re-validated, published, marked replayed, in one
transaction each)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec.structs
import orjson
import structlog
from psycopg import sql
from psycopg.rows import class_row

from caudal.events import paging, pii, runtime
from caudal.events.catalog import SchemaCatalog
from caudal.events.intake import (
    DEFAULT_VERSION,
    FRONTEND_ENVELOPE,
    Intake,
    Intaker,
    Limits,
    to_message,
)
from caudal.events.pii import CpfTokenizer
from caudal.events.quarantine_seal import QuarantineSealer
from caudal.events.queries import q
from caudal.events.registry import Registry
from caudal.platform.bootstrap import Container
from caudal.platform.bus.port import Bus
from caudal.platform.db.pool import Database
from caudal.platform.db.rows import fetch_all, fetch_one
from caudal.platform.errors import CaudalError

_log = structlog.get_logger("caudal.events.quarantine")
# Listing never opens a payload: `payload` is always null there (GET .../payload reveals it).
_COLUMNS = (
    "id, received_at, source, type, version, reason, code, message, field, NULL::jsonb AS payload,"
    " trace_key, replayed_at, event_id"
)
SHREDDED = "CAU-EVT-QUARANTINE-SHREDDED"


# One vocabulary for an entry's state, in the API, the CLI and the dashboard: `held` (waiting for
# its schema to be fixed) or `replayed`; `all` lists both. The value is the `replayed` filter.
STATUSES: dict[str, bool | None] = {"held": False, "replayed": True, "all": None}
Status = Literal["held", "replayed", "all"]


@dataclass(frozen=True)
class QuarantineFilter:
    type: str | None = None
    source: str | None = None
    reason: str | None = None
    replayed: bool | None = False  # None: both
    since: datetime | None = None
    until: datetime | None = None


def shown_payload(registry: Registry, item: dict[str, Any]) -> Any:
    """A quarantined payload as it may be revealed: personal values redacted (`pii.redact`), by
    the marks of the schema its type and version have today, and by name."""
    payload, source = item["payload"], item["source"]
    type_, version = item.get("type"), item.get("version") or DEFAULT_VERSION
    schema = None
    if isinstance(type_, str):
        schema = (
            registry.for_frontend(type_, version)
            if source == "frontend"
            else registry.get(type_, version) or registry.family(type_, version)
        )
    plan = None if schema is None else schema.pii
    if not isinstance(payload, dict):
        return pii.redact(None, payload)
    inner = "item" if source == "frontend" else "data"
    shown = {k: pii.redact(None, v) for k, v in payload.items()}
    data = payload.get(inner)
    if isinstance(data, dict):
        envelope = {
            k: v for k, v in data.items() if source == "frontend" and k in FRONTEND_ENVELOPE
        }
        rest = {k: v for k, v in data.items() if k not in envelope}
        shown[inner] = {**pii.redact(None, envelope), **pii.redact(plan, rest)}
    return shown


def _row(item: dict[str, Any]) -> dict[str, Any]:
    item["id"] = str(item["id"])
    item["status"] = "held" if item["replayed_at"] is None else "replayed"
    for key in ("received_at", "replayed_at"):
        if item[key] is not None:
            item[key] = item[key].isoformat()
    return item


async def list_entries(
    database: Database,
    where: QuarantineFilter,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of entries, newest first, metadata only (`payload` is null)."""
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    for column, value in (("type", where.type), ("source", where.source), ("reason", where.reason)):
        if value is not None:
            clauses.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    if where.replayed is not None:
        clauses.append(
            sql.SQL("replayed_at IS NOT NULL" if where.replayed else "replayed_at IS NULL")
        )
    if where.since is not None:
        clauses.append(sql.SQL("received_at >= %s"))
        params.append(where.since)
    if where.until is not None:
        clauses.append(sql.SQL("received_at < %s"))
        params.append(where.until)
    rows, next_cursor = await paging.newest_first(
        database, "events.quarantine", _COLUMNS, (clauses, params), limit, cursor, id_type="uuid"
    )
    return [_row(r) for r in rows], next_cursor


@dataclass(frozen=True)
class SealedCells:
    """The columns an entry's payload is opened from (`quarantine_seal.py`)."""

    payload: Any  # the payload in clear, only for a row stored before sealing existed
    key_epoch: str | None
    wrapped_key: bytes | None
    sealed: bytes | None


@dataclass(frozen=True)
class RevealRow(SealedCells):
    """`quarantine_sealed_payload`: what a reveal opens and shows."""

    source: str
    type: str | None
    version: str | None


@dataclass(frozen=True)
class PendingRow(SealedCells):
    """`quarantine_pending`: what a replay opens and re-validates."""

    id: UUID
    received_at: datetime
    source: str
    trace_key: str | None
    subject: str | None


def open_payload(sealer: QuarantineSealer, entry_id: str, cells: SealedCells) -> Any:
    """The entry's payload; None once shredded."""
    if cells.payload is not None:  # stored before sealing; the retention worker seals it soon
        return cells.payload
    if cells.key_epoch is None or cells.wrapped_key is None or cells.sealed is None:
        return None
    raw = sealer.open(entry_id, cells.key_epoch, bytes(cells.wrapped_key), bytes(cells.sealed))
    return None if raw is None else orjson.loads(raw)


async def reveal(
    database: Database, sealer: QuarantineSealer, registry: Registry, entry_id: str
) -> Any:
    """An entry's payload as `shown_payload` shows it; None when there is no such entry;
    CaudalError 410 once shredded."""
    async with database.connection() as conn:
        row = await fetch_one(
            conn, q("quarantine_sealed_payload"), {"id": entry_id}, class_row(RevealRow)
        )
    if row is None:
        return None
    payload = open_payload(sealer, entry_id, row)
    if payload is None:
        raise shredded()
    item = {"payload": payload, "source": row.source, "type": row.type, "version": row.version}
    return shown_payload(registry, item)


def shredded() -> CaudalError:
    return CaudalError(
        code=SHREDDED,
        detail="this quarantined payload outlived its TTL: its key was destroyed",
        status=410,
        title="Gone",
    )


@dataclass
class ReplayReport:
    replayed: list[str] = field(default_factory=list)  # quarantine ids now on the bus
    still_invalid: list[dict[str, str]] = field(default_factory=list)


def _revalidate(intaker: Intaker, row: PendingRow, payload: Any) -> Intake:
    kw: dict[str, Any] = {
        "received_at": row.received_at,
        "trace_key": row.trace_key,
        "subject": row.subject or "",
    }
    if row.source == "frontend":
        device = payload.get("device") if isinstance(payload, dict) else None
        item = payload.get("item") if isinstance(payload, dict) else None
        return intaker.frontend({"device": device, "data": [item]}, **kw)
    return intaker.backend(payload, **kw)


async def replay(
    database: Database,
    bus: Bus,
    catalog: SchemaCatalog,
    limits: Limits,
    sealer: QuarantineSealer,
    *,
    type_: str | None = None,
    batch_size: int = 500,
    tokens: CpfTokenizer | None = None,
) -> ReplayReport:
    """Re-validate pending entries (optionally of one type) against today's registry; publish the
    ones that pass, each as the event id = its quarantine id (a replay twice is one event)."""
    await catalog.refresh(force=True)
    intaker = Intaker(catalog.registry, limits, tokens)
    report = ReplayReport()
    seen: set[str] = set()
    while True:
        async with database.connection() as conn:
            params = {"type": type_, "limit": batch_size + len(seen)}
            fetched = await fetch_all(conn, q("quarantine_pending"), params, class_row(PendingRow))
        rows = [r for r in fetched if str(r.id) not in seen]
        if not rows:
            return report
        for row in rows:
            qid = str(row.id)
            seen.add(qid)
            payload = open_payload(sealer, qid, row)
            if payload is None:
                report.still_invalid.append(
                    {"id": qid, "code": SHREDDED, "message": "the payload's key was destroyed"}
                )
                continue
            try:
                intake = _revalidate(intaker, row, payload)
            except CaudalError as exc:
                report.still_invalid.append({"id": qid, "code": exc.code, "message": exc.detail})
                continue
            async with database.connection() as conn, conn.transaction():
                if not intake.events:
                    failure = intake.rejections[0]
                    await conn.execute(
                        q("quarantine_update_failure"),
                        {
                            "id": qid,
                            "reason": failure.reason,
                            "code": failure.code,
                            "message": failure.message,
                            "field": failure.field,
                        },
                    )
                    report.still_invalid.append(
                        {"id": qid, "code": failure.code, "message": failure.message}
                    )
                    continue
                event = intake.events[0][1]
                if not (isinstance(payload, dict) and payload.get("eventId")):
                    event = msgspec.structs.replace(event, id=qid)
                await bus.publish([to_message(event)], conn)
                await conn.execute(q("quarantine_mark_replayed"), {"id": qid, "event_id": event.id})
                report.replayed.append(qid)
        _log.info("quarantine_replay_progress", replayed=len(report.replayed))


async def replay_in(container: Container, type_: str | None = None) -> ReplayReport:
    """`replay` with this process's bus, schema catalog and CPF tokenizer (the API, the
    dashboard and `caudal quarantine replay` share it)."""
    events = runtime.get(container)
    return await replay(
        container.database,
        events.bus,
        events.catalog,
        events.limits,
        events.sealer,
        type_=type_,
        tokens=runtime.cpf_tokens(container),
    )
