"""The `realtime` sink: per-minute counts by source, type and platform, and recent events
searchable by type, device and time range (tables `events.minute_counts`, `events.recent`).

Idempotent on the event id: an event is counted only when it is first stored. Behind the
erasure barrier (`events/erasure_barrier.py`): its gate runs inside the write statement itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from caudal.events import erasure_barrier
from caudal.events.model import CanonicalEvent
from caudal.events.queries import q
from caudal.events.sinks.rows import json_rows
from caudal.platform.db.pool import Database


class RealtimeSink:
    name = "realtime"
    # Records per delivery from the bus, one statement each. 5,000 rather than 1,000: each
    # delivery is three round trips in series (fetch, write, commit) that wait for the worker's
    # loop between the other groups' work, so with 1,000 realtime finished a backlog ~10 % after
    # the lake (bench/drain_cpu.py); with 5,000 both finish together, at the same CPU per event.
    batch_size = 5000

    def __init__(self, database: Database) -> None:
        self.database = database

    async def write(self, events: Sequence[CanonicalEvent]) -> None:
        if not events:
            return
        # One statement (insert + grouped upsert) is atomic on its own: no BEGIN/COMMIT trips.
        async with self.database.connection(autocommit=True) as conn:
            await conn.execute(
                q("realtime_write"),
                {
                    "rows": json_rows(events),
                    "since": erasure_barrier.horizon(events),
                    "margin": erasure_barrier.MARGIN,
                },
            )
