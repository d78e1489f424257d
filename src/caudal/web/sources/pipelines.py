"""Pipeline runs and their CSV outputs, from the pipelines capability."""

from __future__ import annotations

from caudal.platform import scopes
from caudal.web.section import Section
from caudal.web.sources.fetch import Reader
from caudal.web.sources.shapes import items

RUNS = "/v1/pipelines/runs"


async def runs(reader: Reader, limit: int = 20) -> Section:
    section = await reader.get("Pipeline runs", scopes.PIPELINES_READ, RUNS, limit=limit)
    if not section.ok:
        return section
    return Section.of(items(section.value)[:limit])
