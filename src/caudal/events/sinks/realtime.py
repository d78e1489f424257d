"""The `realtime` sink: per-minute counts by source, type and platform, and recent events
searchable by type, device and time range (tables `events.minute_counts`, `events.recent`).

Idempotent on the event id: an event is counted only when it is first stored. Behind the
erasure barrier (`events/erasure_barrier.py`): its gate runs inside the write statement itself,
which writes nothing when an erasure concerns the batch; the batch is then filtered and written
again, against the gate it was filtered by (rare: a new erasure at most every round).
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.types.json import Jsonb

from caudal.events import erasure_barrier, erasure_barrier_postgres
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
        since = erasure_barrier.horizon(events)
        kept, expected, among = events, None, None
        # One statement (insert + grouped upsert) is atomic on its own: no BEGIN/COMMIT trips.
        async with self.database.connection(autocommit=True) as conn:
            while kept:
                cur = await conn.execute(
                    q("realtime_write"),
                    {
                        "rows": json_rows(kept),
                        "since": since,
                        "expected": None if expected is None else Jsonb(expected),
                        "among": among,
                    },
                )
                row = await cur.fetchone()
                gate = row[0] if row is not None else None
                if gate == expected:
                    return
                if gate == erasure_barrier_postgres.MANY:  # a mass erasure: this batch's only
                    among = sorted(erasure_barrier.windows(events))
                    continue
                expected = gate
                kept = erasure_barrier.kept(events, erasure_barrier_postgres.erased_of(gate))
