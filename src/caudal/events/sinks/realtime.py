"""The `realtime` sink: per-minute counts by source, type and platform, and recent events
searchable by type, device and time range (tables `events.minute_counts`, `events.recent`).

Idempotent on the event id: an event is counted only when it is first stored.
"""

from __future__ import annotations

from collections.abc import Sequence

from caudal.events.model import CanonicalEvent
from caudal.events.queries import q
from caudal.events.sinks.rows import json_rows
from caudal.platform.db.pool import Database


class RealtimeSink:
    name = "realtime"
    batch_size = 1000  # records per delivery from the bus (one statement each)

    def __init__(self, database: Database) -> None:
        self.database = database

    async def write(self, events: Sequence[CanonicalEvent]) -> None:
        if not events:
            return
        async with self.database.connection() as conn, conn.transaction():
            await conn.execute(q("realtime_write"), {"rows": json_rows(events)})
