"""The events explorer: filtered recent events paged both ways, new rows polled as they arrive,
and the filtered events exported as CSV or Parquet.

Everything is ordered by received time, newest first, the order the realtime store keeps and the
only one in which a late event (occurred long ago, received now) still shows up at the top of a
live view. The table's first column says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from caudal.platform import instants
from caudal.web import export
from caudal.web.deps import data_session, page_session
from caudal.web.render import pretty, render, when
from caudal.web.sessions import WebSession
from caudal.web.sources import monitor
from caudal.web.sources.fetch import Reader

router = APIRouter(include_in_schema=False)

FILTERS = ("type", "source", "platform", "device", "from", "to")
PAGING = ("cursor", "after")
PAGE_SIZE = 50
LIVE_LIMIT = 100


COLUMNS = (
    export.Column("received_at", pa.timestamp("us", tz="UTC"), export.instant("received_at")),
    export.Column("occurred_at", pa.timestamp("us", tz="UTC"), export.instant("occurred_at")),
    export.Column("source", pa.string(), export.text("source")),
    export.Column("type", pa.string(), export.text("type")),
    export.Column("version", pa.string(), export.text("version")),
    export.Column("platform", pa.string(), export.text("platform")),
    export.Column("device_id", pa.string(), export.text("device_id")),
    export.Column("id", pa.string(), export.text("id")),
    export.Column("trace_key", pa.string(), export.text("trace_key")),
    export.Column("data", pa.string(), export.as_json("data")),
)


def to_utc(value: str) -> str:
    """`datetime-local` inputs carry no zone: they are read as UTC, the dashboard's zone."""
    try:
        return instants.to_utc(datetime.fromisoformat(value)).isoformat()
    except ValueError:  # not a moment, or one past year 9999 in UTC: the API names the field
        return value


def filters_of(request: Request, names: tuple[str, ...] = FILTERS) -> dict[str, str]:
    params = request.query_params
    return {n: params[n].strip()[:200] for n in names if params.get(n, "").strip()}


def api_query(filters: dict[str, str]) -> dict[str, str]:
    """The monitor API's parameters: `datetime-local` inputs read as UTC."""
    return {k: (to_utc(v) if k in ("from", "to") else v) for k, v in filters.items()}


def display_row(event: dict[str, Any]) -> dict[str, str]:
    """One event as the table shows it (the live rows are built from this in the browser)."""
    return {
        "id": str(event.get("id", "")),
        "received": when(event.get("received_at")),
        "occurred": when(event.get("occurred_at")),
        "source": str(event.get("source") or "—"),
        "type": str(event.get("type") or "—"),
        "platform": str(event.get("platform") or "—"),
        "device": str(event.get("device_id") or "—"),
        "json": pretty(event),
    }


@router.get("/events", summary="Events explorer")
async def events(
    request: Request, session: Annotated[WebSession, Depends(page_session)]
) -> Response:
    filters = filters_of(request)
    paging = filters_of(request, PAGING)
    query = {**api_query(filters), **paging, "limit": str(PAGE_SIZE)}
    found = await monitor.recent_events(Reader.of(request, session), query)
    rows = found.value["rows"] if found.ok and found.value else []
    return render(
        "events.html",
        session=session,
        active="events",
        title="Events",
        filters=filters,
        found=found,
        # Only the newest page goes live: an older page must stay put while it is read.
        live=found.ok and not paging,
        newest=rows[0].get("received_at", "") if rows else "",
    )


@router.get("/ui/events/live", summary="Events received since a moment (the explorer's poll)")
async def live(request: Request, session: Annotated[WebSession, Depends(data_session)]) -> Response:
    filters = filters_of(request)
    since = request.query_params.get("since", "").strip()[:40]
    query = {**api_query(filters), "limit": str(LIVE_LIMIT)}
    if since:
        query["from"] = since  # inclusive: rows already shown are skipped by id in the browser
    found = await monitor.recent_events(Reader.of(request, session), query)
    if not found.ok:
        status = 403 if found.state == "forbidden" else 503
        return JSONResponse({"detail": found.message}, status_code=status)
    rows = found.value["rows"] if found.value else []
    return JSONResponse(
        {
            "rows": [display_row(e) for e in rows],
            "newest": rows[0].get("received_at") if rows else since or None,
            # More arrived than one poll carries: the page says so rather than leave a gap.
            "more": bool(found.value and found.value.get("next")),
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/events/export.{fmt}", summary="The filtered events as CSV or Parquet (streamed)")
async def export_events(
    request: Request, fmt: str, session: Annotated[WebSession, Depends(data_session)]
) -> Response:
    if fmt not in export.FORMATS:
        return JSONResponse({"detail": "export as csv or parquet"}, status_code=404)
    reader = Reader.of(request, session)
    query = api_query(filters_of(request))
    first = await monitor.recent_events(reader, {**query, "limit": "1"})
    if not first.ok:
        status = 403 if first.state == "forbidden" else 503
        return render(
            "message.html", session=session, status=status, title="No export", message=first.message
        )
    pages = monitor.all_events(reader, query, export.PAGE_ROWS, export.MAX_ROWS)
    return StreamingResponse(
        export.stream(fmt, COLUMNS, pages),
        media_type=export.FORMATS[fmt],
        headers=export.attachment(f"events.{fmt}"),
    )
