"""The overview's figures at one moment: what the page renders first and the stream pushes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from caudal.web.overview import build_series
from caudal.web.section import Section
from caudal.web.sources import bus, monitor, pipelines, quarantine
from caudal.web.sources.fetch import Reader


def _part(section: Section) -> dict[str, Any]:
    return {"state": section.state, "value": section.value, "message": section.message}


async def overview_snapshot(reader: Reader, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    rates, held, lag, runs = await asyncio.gather(
        monitor.rates(reader, now),
        quarantine.count(reader),
        bus.lag(reader),
        pipelines.runs(reader, 5),
    )
    series = build_series(rates.value if rates.ok else [], now)
    dead_count = Section.of(sum(g["dead_letters"] for g in lag.value)) if lag.ok else lag
    return {
        "generated_at": now.isoformat(),
        **series,
        "rates": {"state": rates.state, "message": rates.message},
        "quarantine": _part(held),
        "dead_letters": _part(dead_count),
        "lag": _part(lag),
        "runs": _part(runs),
    }
