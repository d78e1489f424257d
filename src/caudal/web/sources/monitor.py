"""Events per minute and recent events, from the realtime sink's `/v1/monitor/*` routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from caudal.platform import scopes
from caudal.web.overview import WINDOW_MINUTES, RateRow
from caudal.web.section import Section
from caudal.web.sources.fetch import Reader
from caudal.web.sources.shapes import first, items, next_cursor

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


async def rates(reader: Reader, now: datetime) -> Section:
    since = (now - timedelta(minutes=WINDOW_MINUTES)).astimezone(UTC).isoformat()
    section = await reader.get("Event rates", scopes.MONITOR_READ, RATES, since=since)
    if not section.ok:
        return section
    return Section.of(rate_rows(section.value))


async def recent_events(reader: Reader, filters: dict[str, str]) -> Section:
    section = await reader.get("The events explorer", scopes.MONITOR_READ, EVENTS, **filters)
    if not section.ok:
        return section
    rows = items(section.value)
    platform = filters.get("platform", "").lower()
    if platform:  # the realtime API filters by type/device/time; platform is checked here too
        rows = [r for r in rows if str(_platform(r) or "").lower() == platform]
    return Section.of({"rows": rows, "next": next_cursor(section.value)})


def _platform(row: dict[str, Any]) -> Any:
    device = row.get("device")
    if isinstance(device, dict):
        return device.get("platform")
    return row.get("platform")
