"""Events per minute and recent events, from the realtime sink's `/v1/monitor/*` routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import structlog

from caudal.platform import scopes
from caudal.web.overview import RateRow
from caudal.web.section import Section
from caudal.web.sources.fetch import Reader
from caudal.web.sources.shapes import first, items, next_cursor

log = structlog.get_logger("caudal.web")

RATES = "/v1/monitor/rates"
EVENTS = "/v1/monitor/events"


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def rate_rows(body: Any) -> list[RateRow]:
    rows: list[RateRow] = []
    for item in items(body):
        minute = _moment(first(item, "minute", "bucket", "ts", "time"))
        count = first(item, "count", "events", "n", default=0)
        if minute is None or not isinstance(count, int):
            continue
        rows.append(
            RateRow(
                minute=minute,
                source=str(first(item, "source", default="?")),
                type=str(first(item, "type", default="?")),
                count=count,
            )
        )
    return rows


async def rates(reader: Reader, since: datetime, step: str = "1m") -> Section:
    """Counts per `step` bucket from `since` (the start of the first bucket) to now."""
    start = since.astimezone(UTC).isoformat()
    section = await reader.get("Event rates", scopes.MONITOR_READ, RATES, since=start, step=step)
    if not section.ok:
        return section
    return Section.of(rate_rows(section.value))


async def recent_events(reader: Reader, filters: dict[str, str]) -> Section:
    section = await reader.get("The events explorer", scopes.MONITOR_READ, EVENTS, **filters)
    if not section.ok:
        return section
    body = section.value
    previous = body.get("prev_cursor") if isinstance(body, dict) else None
    return Section.of(
        {"rows": items(body), "next": next_cursor(body), "previous": previous or None}
    )


async def all_events(
    reader: Reader, filters: dict[str, str], page_rows: int, max_rows: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every matching event, newest first, one API page at a time, at most `max_rows`.

    A page that fails mid-way ends the download early (logged): its status line is long sent.
    """
    cursor: str | None = None
    sent = 0
    while sent < max_rows:
        query = {**filters, "limit": str(min(page_rows, max_rows - sent))}
        if cursor:
            query["cursor"] = cursor
        section = await reader.get("The events explorer", scopes.MONITOR_READ, EVENTS, **query)
        if not section.ok:
            log.warning("web_export_ended_early", detail=section.message)
            return
        rows = items(section.value)
        if rows:
            yield rows
        sent += len(rows)
        cursor = next_cursor(section.value)
        if not cursor or not rows:
            return
