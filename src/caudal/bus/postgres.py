"""The PostgreSQL bus adapter: the log lives in the `bus` schema of the application's database,
so a domain write and the events it publishes commit in one transaction (the outbox)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
import structlog

from caudal.bus import metrics
from caudal.bus.codec import dumps, loads, partition_of
from caudal.bus.notify import Notifier
from caudal.bus.postgres_consumer import GroupMember
from caudal.bus.queries import q
from caudal.platform.bus.model import DeadLetter, GroupStatus, Message
from caudal.platform.bus.port import Consumer
from caudal.platform.db.arrays import execute_batch
from caudal.platform.db.pool import AsyncConn, Database
from caudal.platform.settings import BusSettings

NOTIFY_CHANNEL = "caudal_bus"
_RETENTION_LOCK = 0x6361756462  # one retention pass at a time per database
_RETENTION_EVERY_S = 60.0
_RETENTION_CHUNK = 5000
_NOTIFY_EVERY_S = 0.02

_log = structlog.get_logger("caudal.bus")


class PostgresBus:
    """Implements `bus.port.Bus` and `bus.port.BusAdmin` on PostgreSQL (see the migration)."""

    def __init__(self, database: Database, settings: BusSettings) -> None:
        self.database = database
        self.settings = settings
        self.notifier = Notifier(database.url, NOTIFY_CHANNEL)
        self._next_retention = 0.0
        self._rung: dict[str, float] = {}

    # -- publish ---------------------------------------------------------------------------

    def _params(self, messages: Sequence[Message]) -> dict[str, list[Any]]:
        partitions = self.settings.partitions
        return {
            "topics": [m.topic for m in messages],
            "keys": [m.key for m in messages],
            "partitions": [partition_of(m.key, partitions) for m in messages],
            "ids": [m.id for m in messages],
            "payloads": [dumps(m.payload) for m in messages],
            "headers": [dumps(m.headers) for m in messages],
        }

    async def publish(self, messages: Sequence[Message], conn: AsyncConn | None = None) -> None:
        """Append `messages` in one round trip. With `conn`, inside the caller's transaction
        (the outbox); otherwise in a transaction of our own, durable when this returns."""
        if not messages:
            return
        params = self._params(messages)
        topics = set(params["topics"])
        query = q("publish") if self._ring(topics) else q("publish_quiet")
        if conn is not None:
            if not isinstance(conn, psycopg.AsyncConnection):
                raise TypeError("publish(conn=...) takes a psycopg AsyncConnection")
            await execute_batch(conn, query, params)
        else:
            async with self.database.connection() as own:
                # One statement is its own transaction: autocommit saves the BEGIN and COMMIT
                # round trips; it is committed (and durable) when execute returns.
                await own.set_autocommit(True)
                try:
                    await execute_batch(own, query, params)
                finally:
                    await own.set_autocommit(False)
            self.notifier.wake_local(topics)  # committed: this process's workers go now
        for topic in topics:
            metrics.PUBLISHED.labels(topic).inc(sum(1 for m in messages if m.topic == topic))

    def _ring(self, topics: set[str]) -> bool:
        """Notify listeners unless this process did so for these topics a moment ago (the
        workers woken then poll again shortly, and find what a quiet publish wrote)."""
        now = time.monotonic()
        due = [t for t in topics if now - self._rung.get(t, -1.0) >= _NOTIFY_EVERY_S]
        for topic in due:
            self._rung[topic] = now
        return bool(due)

    # -- consume ---------------------------------------------------------------------------

    async def consume(self, consumer: Consumer, stop: asyncio.Event) -> None:
        await GroupMember(self, consumer).run(stop)

    async def group_lag(self, group: str) -> int:
        async with self.database.connection() as conn:
            cur = await conn.execute(q("group_lag"), {"group": group})
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def maybe_apply_retention(self) -> int:
        """At most once a minute per process, and one process at a time per database."""
        now = time.monotonic()
        if self.settings.retention_days <= 0 or now < self._next_retention:
            return 0
        self._next_retention = now + _RETENTION_EVERY_S
        return await self.apply_retention()

    async def apply_retention(self) -> int:
        """Delete consumed messages older than the retention; return how many."""
        seconds = self.settings.retention_days * 86400
        deleted = 0
        while True:
            async with self.database.connection() as conn, conn.transaction():
                cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_RETENTION_LOCK,))
                row = await cur.fetchone()
                if not row or not row[0]:
                    return deleted
                cur = await conn.execute(
                    q("retention"), {"seconds": seconds, "limit": _RETENTION_CHUNK}
                )
                count = cur.rowcount
                if not deleted:
                    await conn.execute(q("retention_dead_letters"), {"seconds": seconds})
            deleted += count
            if count < _RETENTION_CHUNK:
                if deleted:
                    _log.info("bus_retention", deleted=deleted)
                return deleted

    # -- admin -----------------------------------------------------------------------------

    async def status(self) -> list[GroupStatus]:
        async with self.database.connection() as conn:
            cur = await conn.execute(q("status"), {"lease": self.settings.lease_seconds})
            rows = await cur.fetchall()
        return [
            GroupStatus(
                group=r[0],
                topics=tuple(r[1]),
                partitions=int(r[2]),
                owned=int(r[3]),
                members=int(r[4]),
                lag=int(r[5]),
                dead_letters=int(r[6]),
                retrying=int(r[7]),
                last_error=r[8],
                oldest_pending_at=r[9],
            )
            for r in rows
        ]

    async def replay(
        self, group: str, *, from_offset: int | None = None, since: datetime | None = None
    ) -> int:
        if (from_offset is None) == (since is None):
            raise ValueError("give exactly one of from_offset or since")
        async with self.database.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT 1 FROM bus.groups WHERE group_name = %s FOR UPDATE", (group,)
            )
            if await cur.fetchone() is None:
                raise LookupError(group)
            cur = await conn.execute(
                q("first_positions"), {"group": group, "offset": from_offset, "since": since}
            )
            rows = await cur.fetchall()
            await conn.execute(
                q("set_positions"),
                {
                    "group": group,
                    "partitions": [r[0] for r in rows],
                    "xids": [r[1] for r in rows],
                    "seqs": [r[2] for r in rows],
                },
            )
            cur = await conn.execute(q("group_lag"), {"group": group})
            lag = await cur.fetchone()
        _log.info("bus_replay", group=group, from_offset=from_offset, since=since)
        return int(lag[0]) if lag else 0

    async def dead_letters(self, group: str | None = None, limit: int = 100) -> list[DeadLetter]:
        async with self.database.connection() as conn:
            cur = await conn.execute(q("dead_letters"), {"group": group, "limit": limit})
            rows = await cur.fetchall()
        return [
            DeadLetter(
                id=int(r[0]),
                group=r[1],
                offset=int(r[2]),
                message=Message(r[3], r[4], loads(r[6]), id=r[5], headers=loads(r[7])),
                attempts=int(r[8]),
                last_error=r[9],
                published_at=r[10],
                failed_at=r[11],
                redrive_requested=bool(r[12]),
            )
            for r in rows
        ]

    async def drop_group(self, group: str) -> bool:
        """Forget a group that no longer runs (it would hold back retention forever)."""
        async with self.database.connection() as conn:
            cur = await conn.execute(q("drop_group"), {"group": group})
            return cur.rowcount > 0

    async def redrive(self, group: str | None = None, ids: Sequence[int] = ()) -> int:
        async with self.database.connection() as conn:
            cur = await conn.execute(q("request_redrive"), {"group": group, "ids": list(ids)})
            return cur.rowcount
