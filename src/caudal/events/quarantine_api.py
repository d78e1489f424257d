"""`GET /v1/quarantine` (events:read): invalid events with their reason, newest first;
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
from caudal.events.quarantine import STATUSES, QuarantineFilter, Status, list_entries, replay_in
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.errors import not_found
from caudal.platform.http.deps import container, require

router = APIRouter(tags=["events"])
_audit = structlog.get_logger("caudal.audit")
DISCARD = (
    "DELETE FROM events.quarantine WHERE id = %s AND replayed_at IS NULL "
    "RETURNING source, type, reason, code, received_at"
)


@router.get("/v1/quarantine", summary="Quarantined events (filters, keyset pagination).")
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
    where = QuarantineFilter(
        type=type,
        source=source,
        reason=reason,
        replayed=STATUSES[status],
        since=since,
        until=until,
    )
    c = container(request)
    registry = await runtime.get(c).catalog.current()
    items, next_cursor = await list_entries(c.database, where, limit, cursor, registry=registry)
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/v1/quarantine/replay",
    summary="Re-validate held entries (optionally of one type); publish those that now pass.",
)
async def replay_quarantine(
    request: Request,
    _: Annotated[Principal, Depends(require(scopes.EVENTS_WRITE))],
    type: Annotated[str | None, Query(max_length=128)] = None,
) -> dict[str, Any]:
    report = await replay_in(container(request), type)
    return {"replayed": report.replayed, "still_invalid": report.still_invalid}


@router.delete(
    "/v1/quarantine/{entry_id}",
    status_code=204,
    summary="Discard a held entry (never replayed); the discard is recorded in the audit log.",
)
async def discard_quarantined(
    request: Request,
    entry_id: uuid.UUID,
    principal: Annotated[Principal, Depends(require(scopes.EVENTS_WRITE))],
) -> Response:
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
