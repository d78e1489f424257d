"""The overview's figures at one moment: what the page renders first and the stream pushes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from caudal.web.overview import (
    DEFAULT_RANGE,
    WINDOW_MINUTES,
    Range,
    build_series,
    hour_figures,
    since,
)
from caudal.web.section import Section
from caudal.web.sources import bus, monitor, pipelines, quarantine
from caudal.web.sources.fetch import Reader


def _part(section: Section) -> dict[str, Any]:
    return {"state": section.state, "value": section.value, "message": section.message}


async def _chart_rates(reader: Reader, now: datetime, span: Range, hour: Section) -> Section:
    """The chart's counts: the cards' hour serves the short ranges, a bucketed read the rest."""
    if span.step_minutes == 1 and span.minutes <= WINDOW_MINUTES:
        return hour
    return await monitor.rates(reader, since(now, span), span.step)


async def overview_snapshot(
    reader: Reader, now: datetime | None = None, span: Range = DEFAULT_RANGE
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    hour_start = now.replace(second=0, microsecond=0) - timedelta(minutes=WINDOW_MINUTES - 1)
    hour, held, lag, outbox, runs = await asyncio.gather(
        monitor.rates(reader, hour_start),
        quarantine.count(reader),
        bus.lag(reader),
        bus.outbox(reader),
        pipelines.runs(reader, 5),
    )
    chart = await _chart_rates(reader, now, span, hour)
    hour_rows = hour.value if hour.ok else []
    series = build_series(chart.value if chart.ok else [], now, span=span)
    dead_count = Section.of(sum(g["dead_letters"] for g in lag.value)) if lag.ok else lag
    return {
        "generated_at": now.isoformat(),
        "range_label": span.label,
        **series,
        **hour_figures(hour_rows, now),
        "rates": {"state": chart.state, "message": chart.message},
        "quarantine": _part(held),
        "dead_letters": _part(dead_count),
        "lag": _part(lag),
        "outbox": _part(outbox),
        "runs": _part(runs),
    }
