"""Quarantined events (kept with their reason) and their replay, from the ingest capability."""

from __future__ import annotations

from caudal.platform import scopes
from caudal.web.section import Section
from caudal.web.sources.fetch import Reader
from caudal.web.sources.shapes import items, total

LIST = "/v1/quarantine"
REPLAY = "/v1/quarantine/replay"


async def quarantined(reader: Reader, filters: dict[str, str]) -> Section:
    section = await reader.get("Quarantine", scopes.EVENTS_READ, LIST, **filters)
    if not section.ok:
        return section
    rows = items(section.value)
    return Section.of({"rows": rows, "count": total(section.value, len(rows))})


async def count(reader: Reader) -> Section:
    section = await reader.get("Quarantine", scopes.EVENTS_READ, LIST, limit=1, replayed="false")
    if not section.ok:
        return section
    return Section.of(total(section.value, len(items(section.value))))


async def replay(reader: Reader, event_type: str | None) -> Section:
    if not reader.session.has(scopes.EVENTS_WRITE):
        return Section.forbidden(scopes.EVENTS_WRITE)
    if not reader.has(REPLAY):
        return Section.unavailable("Replaying quarantined events")
    result = await reader.api.post(REPLAY, json={"type": event_type} if event_type else {})
    if result.status == 403:
        return Section.forbidden(scopes.EVENTS_WRITE)
    if not result.ok:
        return Section.error(f"Replay failed: {result.detail}")
    return Section.of(result.body)
