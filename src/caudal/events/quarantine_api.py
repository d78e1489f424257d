"""`GET /v1/quarantine` (events:read): invalid events with their reason, newest first; and
`POST /v1/quarantine/replay` (events:write), the HTTP twin of `caudal quarantine replay`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from caudal.events import runtime
from caudal.events.quarantine import STATUSES, QuarantineFilter, Status, list_entries, replay
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.http.deps import container, require

router = APIRouter(tags=["events"])


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
    items, next_cursor = await list_entries(container(request).database, where, limit, cursor)
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
    c = container(request)
    events = runtime.get(c)
    report = await replay(c.database, events.bus, events.catalog, events.limits, type_=type)
    return {"replayed": report.replayed, "still_invalid": report.still_invalid}
