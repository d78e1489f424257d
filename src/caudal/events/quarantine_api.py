"""`GET /v1/quarantine` (events:read): invalid events with their reason, newest first (metadata
only: payloads are sealed at rest); `GET /v1/quarantine/{id}/payload` (events:read) reveals one
payload while its day key exists;
`POST /v1/quarantine/replay` (events:write), the HTTP twin of `caudal quarantine replay`; and
`DELETE /v1/quarantine/{id}` (events:write): discard a held entry that can never pass (a test
payload, a retired producer), recorded in the log with who discarded what and why it was held."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response

from caudal.events import runtime
from caudal.events.api_models import QuarantinePage, QuarantinePayload, ReplayReport
from caudal.events.quarantine import (
    STATUSES,
    QuarantineFilter,
    Status,
    list_entries,
    replay_in,
    reveal,
)
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.errors import not_found
from caudal.platform.http.deps import container, require
from caudal.platform.http.openapi import problems

router = APIRouter(tags=["events"])
_audit = structlog.get_logger("caudal.audit")
DISCARD = (
    "DELETE FROM events.quarantine WHERE id = %s AND replayed_at IS NULL "
    "RETURNING source, type, reason, code, received_at"
)


@router.get(
    "/v1/quarantine",
    summary="Quarantined events (filters, keyset pagination).",
    response_model=QuarantinePage,
)
async def quarantine(
    request: Request,
    _: Annotated[Principal, Depends(require(scopes.EVENTS_READ))],
    type: Annotated[str | None, Query(max_length=128)] = None,
    source: Annotated[str | None, Query(max_length=32)] = None,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[
        Status, Query(description="held (waiting for a schema fix), replayed, or all")
    ] = "held",
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """Newest first, with the reason and the stable code; payloads are sealed at rest (`payload`
    is null here; `/v1/quarantine/{id}/payload` reveals one); pass `next_cursor` as `cursor` for
    the next page."""
    where = QuarantineFilter(
        type=type,
        source=source,
        reason=reason,
        replayed=STATUSES[status],
        since=since,
        until=until,
    )
    items, next_cursor = await list_entries(container(request).database, where, limit, cursor)
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/v1/quarantine/replay",
    summary="Re-validate held entries (optionally of one type); publish those that now pass.",
    response_model=ReplayReport,
)
async def replay_quarantine(
    request: Request,
    _: Annotated[Principal, Depends(require(scopes.EVENTS_WRITE))],
    type: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    """After a schema fix: entries that now pass are published once (idempotent) and marked
    replayed; the others stay held, listed with why."""
    report = await replay_in(container(request), type)
    return {"replayed": report.replayed, "still_invalid": report.still_invalid}


@router.get(
    "/v1/quarantine/{entry_id}/payload",
    summary="Reveal one entry's payload (sealed at rest) while its day key exists (TTL).",
    response_model=QuarantinePayload,
    responses=problems(404, 410),
)
async def quarantined_payload(
    request: Request,
    entry_id: uuid.UUID,
    principal: Annotated[Principal, Depends(require(scopes.EVENTS_READ))],
) -> dict[str, Any]:
    """The payload as received, while the entry's day key exists; 410 once it was shredded at
    its TTL. Every reveal is recorded in the audit log."""
    c = container(request)
    events = runtime.get(c)
    registry = await events.catalog.current()
    payload = await reveal(c.database, events.sealer, registry, str(entry_id))
    if payload is None:
        raise not_found(f"quarantine entry {entry_id}", "CAU-EVT-QUARANTINE-NOT-FOUND")
    _audit.info("quarantine_revealed", subject=principal.subject, entry=str(entry_id))
    return {"id": str(entry_id), "payload": payload}


@router.delete(
    "/v1/quarantine/{entry_id}",
    status_code=204,
    summary="Discard a held entry (never replayed); the discard is recorded in the audit log.",
    responses=problems(404),
)
async def discard_quarantined(
    request: Request,
    entry_id: uuid.UUID,
    principal: Annotated[Principal, Depends(require(scopes.EVENTS_WRITE))],
) -> Response:
    """For an entry that can never pass (a test payload, a retired producer); a replayed or
    unknown entry is a 404."""
    async with container(request).database.connection() as conn:
        row = await (await conn.execute(DISCARD, (entry_id,))).fetchone()
    if row is None:
        raise not_found(f"held quarantine entry {entry_id}", "CAU-EVT-QUARANTINE-NOT-FOUND")
    source, type_, reason, code, received_at = row
    _audit.info(
        "quarantine_discarded",
        subject=principal.subject,
        entry=str(entry_id),
        source=source,
        type=type_,
        reason=reason,
        code=code,
        received_at=received_at.isoformat(),
    )
    return Response(status_code=204)
