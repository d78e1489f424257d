"""The PostgreSQL bus adapter: the log lives in the `bus` schema of the application's database,
so a domain write and the events it publishes commit in one transaction (the outbox)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
import structlog
from psycopg.pq import TransactionStatus
from psycopg.rows import class_row, dict_row

from caudal.bus import metrics
from caudal.bus.codec import dumps, partition_of
from caudal.bus.fetched_runs import FetchedRuns
from caudal.bus.json_text import refuse_nul
from caudal.bus.message_cache import MessageCache
from caudal.bus.notify import Notifier
from caudal.bus.pacing import Pacing
from caudal.bus.postgres_consumer import GroupMember, StoredRecord
from caudal.bus.queries import publish_statement, q
from caudal.platform.bus.model import DeadLetter, GroupStatus, Message, message_kind
from caudal.platform.bus.port import Consumer
from caudal.platform.db.pool import AsyncConn, Database
from caudal.platform.db.rows import fetch_all, fetch_value
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
        self.messages = MessageCache()  # fetched messages, decoded once for all our groups
        self.runs = FetchedRuns()  # fetched positions, read once for all our groups
        # Our groups of one topic read within half the message cache of each other in a backlog
        self.pacing = Pacing(reach=self.messages.capacity // 2)
        self._next_retention = 0.0
        self._rung: dict[str, float] = {}

    # -- publish ---------------------------------------------------------------------------

    def _params(self, messages: Sequence[Message]) -> dict[str, str]:
        """The whole batch as one JSON document, encoded once in C: the per-element work of
        binary array parameters (a Python loop in psycopg) was most of a publish's CPU."""
        partitions = self.settings.partitions
        placed: dict[str, int] = {}  # a batch's messages share a few keys (one device, one CPF)
        rows = []
        for m in messages:
            partition = placed.get(m.key)
            if partition is None:
                partition = placed[m.key] = partition_of(m.key, partitions)
            row = {
                "topic": m.topic,
                "key": m.key,
                "partition": partition,
                "id": m.id,
                "payload": m.payload,
                "headers": m.headers,
            }
            kind = message_kind(m.payload)  # for groups with a kind filter (`fetch_kinds`)
            if kind is not None:
                row["ks"], row["kt"], row["kv"] = kind
            rows.append(row)
        document = dumps(rows)
        refuse_nul(document)
        return {"rows": document}

    async def publish(self, messages: Sequence[Message], conn: AsyncConn | None = None) -> None:
        """Append `messages` in one round trip. With `conn`, inside the caller's transaction
        (the outbox); otherwise in a transaction of our own, durable when this returns."""
        if not messages:
            return
        params = self._params(messages)
        topics = {m.topic for m in messages}
        ringing = self._ring(topics)
        if conn is not None:
            if not isinstance(conn, psycopg.AsyncConnection):
                raise TypeError("publish(conn=...) takes a psycopg AsyncConnection")
            if _statement_commits(conn):  # e.g. the ingestion's group commit
                await _insert_alone(conn, params, ringing)
            else:
                await conn.execute(publish_statement(once=True, ringing=ringing), params)
        else:
            # One statement is its own transaction: autocommit saves the BEGIN and COMMIT
            # round trips; it is committed (and durable) when execute returns.
            async with self.database.connection(autocommit=True) as own:
                await _insert_alone(own, params, ringing)
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
            lag = await fetch_value(conn, q("group_lag"), {"group": group})
        return int(lag or 0)

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
                locked = await fetch_value(
                    conn, "SELECT pg_try_advisory_xact_lock(%s)", (_RETENTION_LOCK,)
                )
                if not locked:
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
            rows = await fetch_all(
                conn, q("status"), {"lease": self.settings.lease_seconds}, dict_row
            )
        return [GroupStatus(**{**r, "topics": tuple(r["topics"])}) for r in rows]

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
            target = {"group": group, "offset": from_offset, "since": since}
            rows = await fetch_all(conn, q("first_positions"), target, dict_row)
            await conn.execute(
                q("set_positions"),
                {
                    "group": group,
                    "partitions": [r["partition"] for r in rows],
                    "xids": [r["xid"] for r in rows],
                    "seqs": [r["seq"] for r in rows],
                },
            )
            lag = await fetch_value(conn, q("group_lag"), {"group": group})
        _log.info("bus_replay", group=group, from_offset=from_offset, since=since)
        return int(lag or 0)

    async def dead_letters(self, group: str | None = None, limit: int = 100) -> list[DeadLetter]:
        async with self.database.connection() as conn:
            rows = await fetch_all(
                conn, q("dead_letters"), {"group": group, "limit": limit}, class_row(_DeadRow)
            )
        return [r.dead_letter() for r in rows]

    async def drop_group(self, group: str) -> bool:
        """Forget a group that no longer runs (it would hold back retention forever)."""
        async with self.database.connection() as conn:
            cur = await conn.execute(q("drop_group"), {"group": group})
            return cur.rowcount > 0

    async def redrive(self, group: str | None = None, ids: Sequence[int] = ()) -> int:
        async with self.database.connection() as conn:
            cur = await conn.execute(q("request_redrive"), {"group": group, "ids": list(ids)})
            return cur.rowcount


def _statement_commits(conn: AsyncConn) -> bool:
    """True when a statement run on `conn` is a transaction of its own (autocommit, none open):
    its failure then rolls back nothing but itself."""
    return conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE


async def _insert_alone(conn: AsyncConn, params: dict[str, str], ringing: bool) -> None:
    """Insert as its own transaction: first without the conflict clause (cheaper per row in
    PostgreSQL), and only if an id is already stored (a retried publish, or an id twice in the
    batch) again with it, so each id is stored once as always. The first statement failed as a
    whole: it wrote nothing and notified no one."""
    try:
        await conn.execute(publish_statement(once=False, ringing=ringing), params)
    except psycopg.errors.UniqueViolation:
        await conn.execute(publish_statement(once=True, ringing=ringing), params)


@dataclass(frozen=True)
class _DeadRow(StoredRecord):
    """A row of the `dead_letters` query."""

    id: int
    group: str
    last_error: str
    failed_at: datetime
    redrive_requested: bool

    def dead_letter(self) -> DeadLetter:
        return DeadLetter(
            id=self.id,
            group=self.group,
            offset=self.seq,
            message=self.record().message,
            attempts=self.attempts,
            last_error=self.last_error,
            published_at=self.published_at,
            failed_at=self.failed_at,
            redrive_requested=self.redrive_requested,
        )
