"""The `realtime` sink: per-minute counts by source, type and platform, and recent events
searchable by type, device and time range (tables `events.minute_counts`, `events.recent`).

Exactly-once in effect on the event id, over an at-least-once bus: an event is counted only
when it is first stored, in the statement that stores it (a count never runs ahead of the rows
it counts). A batch is first written by `realtime_insert` (queries.sql): a plain INSERT of its
rows, with its per-minute counts summed here and upserted in the same statement. A batch holding
an event already stored (a redelivery, or an event twice in one batch) fails that statement on
the primary key, which writes nothing, and is then written by `realtime_write`, which skips the
stored events and counts only those it inserted. That costs a redelivered batch one failed
statement, and the PostgreSQL server logs it as an ERROR: the unique violation's DETAIL names
the conflicting key, which is `events.recent`'s primary key, the event id alone (never a field
of the payload), and the logged STATEMENT is the query text with placeholders. The parameters
(the payloads) are never in it: our sessions set `log_parameter_max_length_on_error` to 0
(platform/db/pool.py), whatever the server's configuration says (a server set to log every
statement, `log_statement = all`, logs every write's parameters anyway: not ours to set).

No deadlock between writers of the same minutes: both statements lock count rows only once
every row of their batch is in (a plain insert that waits does so on a row, holding no count),
and in one order, `ORDER BY minute, source, type, platform` in SQL for both.

Behind the erasure barrier (`events/erasure_barrier.py`): its gate runs inside the write
statement itself, which writes nothing when an erasure concerns the batch; the batch is then
filtered and written again, against the gate it was filtered by (rare: a new erasure at most
every round).
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import errors
from psycopg.types.json import Jsonb

from caudal.events import erasure_barrier, erasure_barrier_postgres
from caudal.events.model import CanonicalEvent
from caudal.events.queries import q
from caudal.events.sinks.rows import count_arrays, rows_and_counts
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
        fresh = True  # until the plain insert meets a stored event
        # One statement (inserts + upserts) is atomic on its own: no BEGIN/COMMIT trips.
        async with self.database.connection(autocommit=True) as conn:
            while kept:
                rows, counts = rows_and_counts(kept)
                params = {
                    "rows": rows,
                    "since": since,
                    "expected": None if expected is None else Jsonb(expected),
                    "among": among,
                }
                try:
                    if fresh:
                        cur = await conn.execute(
                            q("realtime_insert"), {**params, **count_arrays(counts)}
                        )
                    else:
                        cur = await conn.execute(q("realtime_write"), params)
                except errors.UniqueViolation:
                    if not fresh:
                        raise
                    fresh = False  # a redelivery: nothing was written; skip what is stored
                    continue
                row = await cur.fetchone()
                gate = row[0] if row is not None else None
                if gate == expected:
                    return
                if gate == erasure_barrier_postgres.MANY:  # a mass erasure: this batch's only
                    among = sorted(erasure_barrier.windows(events))
                    continue
                expected = gate
                kept = erasure_barrier.kept(events, erasure_barrier_postgres.erased_of(gate))
