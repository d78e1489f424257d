"""Canonical events as one JSON document of rows, the shape the realtime sink writes in bulk,
and the batch's per-minute counts, summed in the same pass.

One `orjson.dumps` of the whole batch (in C): psycopg's array parameters cost a Python loop per
element, which was most of a bulk insert's CPU. The counts are a few elements (one per minute
and kind), so arrays suit them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from caudal.bus.codec import dumps
from caudal.events.model import CanonicalEvent

# (minute, source, type, platform or "") -> events: `events.minute_counts`' key and count
MinuteKey = tuple[datetime, str, str, str]
_MINUTE = timedelta(minutes=1)


def json_rows(events: Sequence[CanonicalEvent]) -> str:
    """[id, source, type, version, occurred_at, received_at, trace_key, platform, device_id,
    data] per event."""
    return rows_and_counts(events)[0]


def rows_and_counts(events: Sequence[CanonicalEvent]) -> tuple[str, dict[MinuteKey, int]]:
    """`json_rows`, and how many of the events fall in each `events.minute_counts` row: the
    minute is `received_at` truncated to the minute in its own offset, the same instant as
    PostgreSQL's `date_trunc('minute', ...)` in any zone whose offset is whole minutes (every
    zone's since 1972; the events' times are UTC)."""
    rows = []
    # Per event, only whether its time is in the minute of the event before: two comparisons
    # of datetimes of one tzinfo (the fields compared as they are, no UTC offset asked); the
    # minute (`datetime.replace`, ~2 µs, and so a fresh datetime's hash) only when it is not.
    # The keys then hold the same minute object, whose hash is computed once.
    keys: list[MinuteKey] = []
    minute = start = end = datetime.min
    zone = None
    for e in events:
        device = e.device or {}
        platform, device_id = device.get("platform"), device.get("deviceId")
        platform = None if platform is None else str(platform)
        rows.append(
            [
                e.id,
                e.source,
                e.type,
                e.version,
                e.occurred_at,
                e.received_at,
                e.trace_key,
                platform,
                None if device_id is None else str(device_id),
                e.data,
            ]
        )
        at = e.received_at
        if at.tzinfo is not zone or not start <= at < end:
            zone = at.tzinfo
            minute = start = at.replace(second=0, microsecond=0)
            end = start + _MINUTE
        keys.append((minute, e.source, e.type, platform or ""))
    counts = dict(Counter(keys))
    return dumps(rows), counts


def count_arrays(counts: dict[MinuteKey, int]) -> dict[str, list[Any]]:
    """The counts as `realtime_insert`'s parallel arrays (its SQL orders them: one lock order)."""
    return {
        "minutes": [key[0] for key in counts],
        "sources": [key[1] for key in counts],
        "types": [key[2] for key in counts],
        "platforms": [key[3] for key in counts],
        "counts": list(counts.values()),
    }
