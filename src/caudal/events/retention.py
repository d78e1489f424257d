"""Retention of the events domain's working tables (idempotency keys, realtime, lake buffer)."""

from __future__ import annotations

import asyncio

import structlog

from caudal.events.queries import q
from caudal.platform.db.pool import Database
from caudal.platform.schedule import run_every
from caudal.platform.settings import Settings

_log = structlog.get_logger("caudal.events.retention")


class EventsRetention:
    name = "events-retention"
    role = "worker"
    group: str | None = None  # with any full worker, never with `worker --group`

    def __init__(self, database: Database, settings: Settings, every_seconds: float = 60.0) -> None:
        self.database = database
        self.settings = settings
        self.every_seconds = every_seconds

    async def purge(self) -> dict[str, int]:
        s = self.settings
        plan = {
            "idempotency": ("idempotency_purge", s.events.idempotency_ttl_hours * 3600),
            "recent": ("realtime_purge_events", s.realtime.events_retention_hours * 3600),
            "minute_counts": ("realtime_purge_counts", s.realtime.counts_retention_days * 86400),
            "lake_buffer": ("lake_purge", s.lake.dedupe_hours * 3600),
        }
        deleted: dict[str, int] = {}
        async with self.database.connection() as conn:
            for table, (query, seconds) in plan.items():
                cur = await conn.execute(q(query), {"seconds": seconds})
                deleted[table] = cur.rowcount
                await conn.commit()
        return deleted

    async def run(self, stop: asyncio.Event) -> None:
        await run_every(self.every_seconds, stop, self._round, "events_retention_failed")

    async def _round(self) -> None:
        deleted = await self.purge()
        if any(deleted.values()):
            _log.info("events_retention", **deleted)
