"""Dead letters and lag per consumer group, from the bus capability."""

from __future__ import annotations

from caudal.platform import scopes
from caudal.web.section import Section
from caudal.web.sources.fetch import Reader
from caudal.web.sources.shapes import items, total

STATUS = "/v1/bus/status"
DEAD_LETTERS = "/v1/bus/dead-letters"


async def lag(reader: Reader) -> Section:
    section = await reader.get("Bus lag", scopes.MONITOR_READ, STATUS)
    if not section.ok:
        return section
    return Section.of(items(section.value))


async def dead_letters(reader: Reader) -> Section:
    section = await reader.get("Dead letters", scopes.MONITOR_READ, DEAD_LETTERS)
    if not section.ok:
        return section
    rows = items(section.value)
    return Section.of({"rows": rows, "count": total(section.value, len(rows))})
