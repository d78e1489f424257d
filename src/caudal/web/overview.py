"""The overview's figures from per-minute counts: pure functions, no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

WINDOW_MINUTES = 60
TOP_TYPES = 8
LEDGER_POSTED = ("ledger", "ledger.posted")


@dataclass(frozen=True)
class RateRow:
    minute: datetime
    source: str
    type: str
    count: int


def minute_floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def build_series(
    rows: Iterable[RateRow], now: datetime, window: int = WINDOW_MINUTES, top: int = TOP_TYPES
) -> dict[str, Any]:
    """Counts per minute over the last `window` minutes (oldest first), by source and by type.

    Types beyond the `top` busiest are summed into "other" so the chart stays readable.
    """
    last = minute_floor(now)
    first = last - timedelta(minutes=window - 1)
    index = {first + timedelta(minutes=i): i for i in range(window)}
    by_source: dict[str, list[int]] = defaultdict(lambda: [0] * window)
    by_type: dict[str, list[int]] = defaultdict(lambda: [0] * window)
    postings_5m = 0
    for row in rows:
        slot = index.get(minute_floor(row.minute))
        if slot is None:
            continue
        by_source[row.source][slot] += row.count
        by_type[row.type][slot] += row.count
        if (row.source, row.type) == LEDGER_POSTED and slot >= window - 5:
            postings_5m += row.count
    ranked = sorted(by_type.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    types = dict(ranked[:top])
    if len(ranked) > top:
        other = [0] * window
        for _, counts in ranked[top:]:
            other = [a + b for a, b in zip(other, counts, strict=True)]
        types["other"] = other
    total = sum(sum(c) for c in by_source.values())
    return {
        "minutes": [(first + timedelta(minutes=i)).isoformat() for i in range(window)],
        "by_source": dict(sorted(by_source.items())),
        "by_type": types,
        "events_last_hour": total,
        "events_last_minute": sum(c[-1] for c in by_source.values()),
        "ledger_postings_per_minute": round(postings_5m / 5, 1),
    }
