"""The overview's figures from bucketed counts: pure functions, no I/O.

A chart covers one of four ranges (Grafana's quick ranges): the range fixes the bucket size so a
chart never holds more than ~170 points, and the buckets span the whole range, oldest first, so
the data lies where it happened on the time axis. The newest bucket is still filling: it is
flagged `partial` so the chart can mark it instead of showing an unfinished count as a drop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

TOP_TYPES = 8
LEDGER_POSTED = ("ledger", "ledger.posted")


@dataclass(frozen=True)
class Range:
    name: str
    label: str
    minutes: int
    step_minutes: int

    @property
    def buckets(self) -> int:
        return self.minutes // self.step_minutes

    @property
    def step(self) -> str:
        """The bucket size as `/v1/monitor/rates?step=` reads it."""
        return f"{self.step_minutes}m"


RANGES = (
    Range("15m", "15 min", 15, 1),
    Range("1h", "1 hour", 60, 1),
    Range("24h", "24 hours", 24 * 60, 10),
    Range("7d", "7 days", 7 * 24 * 60, 60),
)
DEFAULT_RANGE = RANGES[1]
WINDOW_MINUTES = DEFAULT_RANGE.minutes


def pick_range(name: str | None) -> Range:
    return next((r for r in RANGES if r.name == name), DEFAULT_RANGE)


@dataclass(frozen=True)
class RateRow:
    minute: datetime
    source: str
    type: str
    count: int


def minute_floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def bucket_floor(moment: datetime, step_minutes: int) -> datetime:
    """The start of `moment`'s bucket, aligned on the epoch (as `date_bin` aligns them)."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    step = timedelta(minutes=step_minutes)
    return epoch + ((moment.astimezone(UTC) - epoch) // step) * step


def since(now: datetime, span: Range) -> datetime:
    """The first bucket's start: what to ask the rates API for."""
    last = bucket_floor(now, span.step_minutes)
    return last - timedelta(minutes=span.step_minutes * (span.buckets - 1))


def build_series(
    rows: Iterable[RateRow],
    now: datetime,
    window: int = WINDOW_MINUTES,
    top: int = TOP_TYPES,
    span: Range | None = None,
) -> dict[str, Any]:
    """Counts per bucket over the range (oldest first), by source and by type.

    Types beyond the `top` busiest are summed into "other" so the chart stays readable. Without
    `span`, `window` one-minute buckets (the cards' last hour).
    """
    span = span or Range(f"{window}m", f"{window} min", window, 1)
    size = span.buckets
    first = since(now, span)
    step = timedelta(minutes=span.step_minutes)
    index = {first + step * i: i for i in range(size)}
    by_source: dict[str, list[int]] = defaultdict(lambda: [0] * size)
    by_type: dict[str, list[int]] = defaultdict(lambda: [0] * size)
    for row in rows:
        slot = index.get(bucket_floor(row.minute, span.step_minutes))
        if slot is None:
            continue
        by_source[row.source][slot] += row.count
        by_type[row.type][slot] += row.count
    ranked = sorted(by_type.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    types = dict(ranked[:top])
    if len(ranked) > top:
        other = [0] * size
        for _, counts in ranked[top:]:
            other = [a + b for a, b in zip(other, counts, strict=True)]
        types["other"] = other
    return {
        "range": span.name,
        "step_seconds": span.step_minutes * 60,
        "minutes": [(first + step * i).isoformat() for i in range(size)],
        "partial": True,  # the newest bucket ends after `now`: it is still filling
        "by_source": dict(sorted(by_source.items())),
        "by_type": types,
        "events_in_range": sum(sum(c) for c in by_source.values()),
    }


def hour_figures(rows: Iterable[RateRow], now: datetime) -> dict[str, Any]:
    """The cards: events in the last hour and this minute, ledger postings per minute (5 min)."""
    last = minute_floor(now)
    first = last - timedelta(minutes=WINDOW_MINUTES - 1)
    hour = this_minute = postings_5m = 0
    for row in rows:
        minute = minute_floor(row.minute)
        if not first <= minute <= last:
            continue
        hour += row.count
        if minute == last:
            this_minute += row.count
        if (row.source, row.type) == LEDGER_POSTED and minute > last - timedelta(minutes=5):
            postings_5m += row.count
    return {
        "events_last_hour": hour,
        "events_last_minute": this_minute,
        "ledger_postings_per_minute": round(postings_5m / 5, 1),
    }
