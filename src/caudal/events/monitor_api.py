"""Real-time monitoring API (scope monitor:read), read by the dashboard.

- `GET /v1/monitor/rates?since=&step=&source=&type=&platform=`: counts per minute, or per `step`
  bucket (`10m`, `1h`; aligned on the epoch), by received time.
- `GET /v1/monitor/events?type=&device=&source=&platform=&from=&to=&limit=&cursor=&after=`:
  recent events, newest first (by received time), keyset-paginated both ways: `cursor` (a
  `next_cursor`) reads older events, `after` (a `prev_cursor`) newer ones.
Shapes are documented in docs/api.md; keep them stable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from psycopg import sql

from caudal.events import paging
from caudal.events.api_models import Rates, RecentEvents
from caudal.events.timestamps import TimestampError, parse_utc
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.durations import parse_seconds
from caudal.platform.errors import validation_error
from caudal.platform.http.deps import container, require

router = APIRouter(tags=["monitor"])
Reader = Annotated[Principal, Depends(require(scopes.MONITOR_READ))]
_RECENT_COLUMNS = (
    "id, source, type, version, occurred_at, received_at, platform, device_id, trace_key, data"
)


def _instant(value: str | None, name: str, default: datetime | None) -> datetime | None:
    """An ISO timestamp with offset, or a duration back from now (`15m`, `2h`, `3600`)."""
    if value is None:
        return default
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_seconds(value))
    except ValueError:
        pass
    try:
        return parse_utc(value)
    except TimestampError as exc:
        raise validation_error(
            name, "CAU-MON-TIME", f"`{name}` must be a duration like 15m or a timestamp that {exc}"
        ) from None


@router.get(
    "/v1/monitor/rates",
    summary="Events per minute by source, type and platform.",
    response_model=Rates,
)
async def rates(
    request: Request,
    _: Reader,
    since: Annotated[str | None, Query(description="ISO timestamp or duration; 1h")] = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(max_length=128)] = None,
    platform: Annotated[str | None, Query(max_length=64)] = None,
    step: Annotated[str | None, Query(max_length=16, description="bucket size; 1m")] = None,
) -> dict[str, Any]:
    """Counts by received time in buckets of `step` (aligned on the epoch) since `since`."""
    now = datetime.now(UTC)
    start = _instant(since, "since", now - timedelta(hours=1))
    assert start is not None
    bucket = _step(step)
    clauses: list[sql.Composable] = [sql.SQL("minute >= date_trunc('minute', %s::timestamptz)")]
    params: list[Any] = [start]
    for column, value in (("source", source), ("type", type), ("platform", platform)):
        if value is not None:
            clauses.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    query = sql.SQL(
        "SELECT date_bin(make_interval(secs => %s), minute, 'epoch'::timestamptz) AS bucket, "
        "source, type, platform, sum(count) FROM events.minute_counts WHERE {} "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4 LIMIT 20000"
    ).format(sql.SQL(" AND ").join(clauses))
    params.insert(0, bucket)
    async with container(request).database.connection() as conn:
        cur = await conn.execute(query, params)
        rows = await cur.fetchall()
    series = [
        {
            "minute": minute.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "source": src,
            "type": typ,
            "platform": plat or None,
            "count": int(count),
        }
        for minute, src, typ, plat, count in rows
    ]
    return {
        "since": start.isoformat().replace("+00:00", "Z"),
        "until": now.isoformat().replace("+00:00", "Z"),
        "total": sum(s["count"] for s in series),
        "series": series,
    }


def _step(value: str | None) -> int:
    """A bucket size in whole minutes, from one minute to one day (seconds)."""
    if value is None:
        return 60
    try:
        seconds = parse_seconds(value)
    except ValueError:
        seconds = 0
    if seconds % 60 or not 60 <= seconds <= 86400:
        raise validation_error(
            "step", "CAU-MON-STEP", "`step` must be whole minutes from 1m to 1d, like 10m or 1h"
        )
    return seconds


def _event(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("occurred_at", "received_at"):
        row[key] = row[key].astimezone(UTC).isoformat().replace("+00:00", "Z")
    return row


@router.get(
    "/v1/monitor/events",
    summary="Recent events by type, device and time range.",
    response_model=RecentEvents,
)
async def recent_events(
    request: Request,
    _: Reader,
    type: Annotated[str | None, Query(max_length=128)] = None,
    device: Annotated[str | None, Query(max_length=128, description="deviceId")] = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
    platform: Annotated[str | None, Query(max_length=64)] = None,
    from_: Annotated[str | None, Query(alias="from", description="ISO or duration")] = None,
    to: Annotated[str | None, Query(description="ISO timestamp or duration (exclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    after: Annotated[str | None, Query(max_length=200, description="a prev_cursor")] = None,
) -> dict[str, Any]:
    """Newest first by received time: `cursor` (a `next_cursor`) reads older events, `after` (a
    `prev_cursor`) newer ones."""
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    filters = (("type", type), ("device_id", device), ("source", source), ("platform", platform))
    for column, value in filters:
        if value is not None:
            clauses.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
    start = _instant(from_, "from", None)
    end = _instant(to, "to", None)
    if start is not None:
        clauses.append(sql.SQL("received_at >= %s"))
        params.append(start)
    if end is not None:
        clauses.append(sql.SQL("received_at < %s"))
        params.append(end)
    where = (clauses, params)
    database = container(request).database
    if after is not None and cursor is None:  # the newer page, above an `after` position
        rows, more = await paging.newer_than(
            database, "events.recent", _RECENT_COLUMNS, where, limit, after
        )
        older = bool(rows)  # the `after` row itself lies below
        newer = more and bool(rows)
    else:
        rows, next_cursor = await paging.newest_first(
            database, "events.recent", _RECENT_COLUMNS, where, limit, cursor
        )
        older = next_cursor is not None
        newer = cursor is not None and bool(rows)
    next_cursor = paging.position_of(rows[-1]) if older else None
    prev_cursor = paging.position_of(rows[0]) if newer else None
    items = [_event(r) for r in rows]
    return {"items": items, "next_cursor": next_cursor, "prev_cursor": prev_cursor}
