"""Retention of the events domain's working tables (idempotency keys, realtime), and the
quarantine's TTL: day keys past it are destroyed (crypto-shredding), payloads stored in clear
before sealing existed are sealed, and entries sealed before their CPFs were indexed are opened
once and indexed (so an erasure finds them: `quarantine_seal.py`)."""

from __future__ import annotations

import asyncio

import structlog

from caudal.events.quarantine_seal import QuarantineSealer
from caudal.events.queries import q
from caudal.platform.db.pool import AsyncConn, Database
from caudal.platform.schedule import run_every
from caudal.platform.settings import Settings

_log = structlog.get_logger("caudal.events.retention")


class EventsRetention:
    name = "events-retention"
    role = "worker"
    group: str | None = None  # with any full worker, never with `worker --group`

    def __init__(
        self,
        database: Database,
        settings: Settings,
        sealer: QuarantineSealer,
        every_seconds: float = 60.0,
    ) -> None:
        self.database = database
        self.settings = settings
        self.sealer = sealer
        self.every_seconds = every_seconds

    async def purge(self) -> dict[str, int]:
        s = self.settings
        plan = {
            "idempotency": ("idempotency_purge", s.events.idempotency_ttl_hours * 3600),
            "recent": ("realtime_purge_events", s.realtime.events_retention_hours * 3600),
            "minute_counts": ("realtime_purge_counts", s.realtime.counts_retention_days * 86400),
        }
        deleted: dict[str, int] = {}
        async with self.database.connection() as conn:
            for table, (query, seconds) in plan.items():
                cur = await conn.execute(q(query), {"seconds": seconds})
                deleted[table] = cur.rowcount
                await conn.commit()
            deleted["quarantine_sealed"] = await self.seal_clear_payloads(conn)
            deleted["quarantine_cpfs_indexed"] = await self.index_cpfs(conn)
        deleted["quarantine_days_shredded"] = len(
            await asyncio.to_thread(self.sealer.shred_expired)
        )
        return deleted

    async def seal_clear_payloads(self, conn: AsyncConn, batch: int = 500) -> int:
        """Seal quarantined payloads stored in clear by an older version."""
        sealed = 0
        while True:
            async with conn.transaction():
                cur = await conn.execute(q("quarantine_unsealed"), {"limit": batch})
                rows = await cur.fetchall()
                for entry_id, payload in rows:
                    p = self.sealer.seal(str(entry_id), str(payload).encode())
                    await conn.execute(
                        q("quarantine_seal_row"),
                        {
                            "id": entry_id,
                            "sealed": p.sealed,
                            "wrapped_key": p.wrapped_key,
                            "key_epoch": p.key_epoch,
                            "tokens": p.tokens,
                        },
                    )
            sealed += len(rows)
            if len(rows) < batch:
                return sealed

    async def index_cpfs(self, conn: AsyncConn, batch: int = 500) -> int:
        """Add the tokens of the CPFs their payloads hold to the entries sealed before those were
        indexed (migration 0008), so an erasure finds them; an entry whose day key is shredded
        holds nothing readable any more. Each entry once; in batches, a transaction each."""
        indexed = 0
        while True:
            async with conn.transaction():
                cur = await conn.execute(q("quarantine_unindexed"), {"limit": batch})
                rows = await cur.fetchall()
                for entry_id, key_epoch, wrapped_key, sealed in rows:
                    payload = None
                    if key_epoch is not None and wrapped_key is not None and sealed is not None:
                        payload = await asyncio.to_thread(
                            self.sealer.open,
                            str(entry_id),
                            key_epoch,
                            bytes(wrapped_key),
                            bytes(sealed),
                        )
                    found = [] if payload is None else self.sealer.tokens(payload)
                    await conn.execute(
                        q("quarantine_add_tokens"), {"id": entry_id, "tokens": found}
                    )
            indexed += len(rows)
            if len(rows) < batch:
                return indexed

    async def run(self, stop: asyncio.Event) -> None:
        await run_every(self.every_seconds, stop, self._round, "events_retention_failed")

    async def _round(self) -> None:
        deleted = await self.purge()
        if any(deleted.values()):
            _log.info("events_retention", **deleted)
