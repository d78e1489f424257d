"""One member of a consumer group on the PostgreSQL bus.

The group's partitions are leased fairly among its live members (`bus.members` heartbeats,
`bus.offsets.owner` leases that expire when a worker dies). Each cycle reads, for every leased
partition, the records after its committed position and below the snapshot horizon, hands them
to the consumer in one batch, and commits the new positions. A failed batch puts its partitions
in isolation: their records are retried one at a time with exponential backoff, so a poison
message alone goes to the dead letters after the configured attempts and the group moves on.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
import structlog

from caudal.bus import metrics
from caudal.bus.codec import loads
from caudal.bus.notify import Notifier
from caudal.bus.queries import q
from caudal.platform.bus.model import Message, Record
from caudal.platform.bus.port import Consumer
from caudal.platform.db.pool import Database, DatabaseUnavailable
from caudal.platform.settings import BusSettings

_log = structlog.get_logger("caudal.bus")

_ERROR_CHARS = 2000
_RETENTION_CHECK_EVERY_S = 5.0
_REDRIVE_EVERY_S = 1.0  # how soon a requested re-drive starts
_QUICK_POLL_S = 0.02


def member_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Delay before the next attempt after `attempt` failures: base, 2*base, 4*base ... cap."""
    return float(min(cap, base * (2 ** max(attempt - 1, 0))))


def describe_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:_ERROR_CHARS]


@dataclass
class _Fetched:
    """A delivered record with what is needed to commit or dead-letter it."""

    record: Record
    xid: str
    payload: str
    headers: str


@dataclass
class _PartitionBatch:
    partition: int
    from_xid: str
    from_seq: int
    attempts: int
    isolated: bool
    items: list[_Fetched] = field(default_factory=list)


class BusHost(Protocol):
    """What a member uses of the `PostgresBus` that runs it (which imports this module)."""

    database: Database
    settings: BusSettings
    notifier: Notifier

    async def maybe_apply_retention(self) -> int: ...


class GroupMember:
    def __init__(self, bus: BusHost, consumer: Consumer) -> None:
        self.bus = bus
        self.consumer = consumer
        self.group = consumer.group
        self.topics = list(consumer.topics)
        self.settings = bus.settings
        self.member = member_id()
        self.owned: set[int] = set()
        self.members = 1
        self.batch_size = int(getattr(consumer, "batch_size", self.settings.batch_size))
        self._next_rebalance = 0.0
        self._next_retention = 0.0
        self._next_redrive = 0.0
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        while True:  # the database may still be starting (or be away): wait for it
            try:
                await self._register()
                break
            except (DatabaseUnavailable, psycopg.OperationalError) as exc:
                _log.warning("bus_database_unavailable", group=self.group, error=str(exc))
                await _wait(stop, None, self.settings.poll_interval_seconds)
                if stop.is_set():
                    return
        wake = self.bus.notifier.subscribe(self.topics)
        beat = asyncio.create_task(self._heartbeats(stop), name=f"bus-heartbeat:{self.group}")
        quick = 0.0
        try:
            while not stop.is_set():
                try:
                    await self._housekeeping()
                    did = await self.cycle()
                except (DatabaseUnavailable, psycopg.OperationalError) as exc:
                    _log.warning("bus_database_unavailable", group=self.group, error=str(exc))
                    await _wait(stop, None, self.settings.poll_interval_seconds)
                    continue
                if did:
                    quick = _QUICK_POLL_S
                    await asyncio.sleep(0)
                    continue
                woke = await _wait(stop, wake, quick or self.settings.poll_interval_seconds)
                wake.clear()
                if woke:
                    quick = _QUICK_POLL_S  # a commit may still wait for an older transaction
                elif quick:
                    quick = quick * 2 if quick * 2 < self.settings.poll_interval_seconds else 0.0
        finally:
            self._closing = True  # ends the heartbeats even if a library call swallows the cancel
            beat.cancel()
            await asyncio.wait({beat}, timeout=self.settings.lease_seconds)
            await self.bus.notifier.unsubscribe(wake)
            await self._leave()

    async def _register(self) -> None:
        params = {
            "group": self.group,
            "topics": self.topics,
            "partitions": self.settings.partitions,
        }
        async with self.bus.database.connection() as conn, conn.transaction():
            await conn.execute(q("register_group"), params)
            await conn.execute(q("create_offsets"), params)

    async def _leave(self) -> None:
        try:
            async with self.bus.database.connection() as conn:
                await conn.execute(q("leave"), {"group": self.group, "member": self.member})
        except (DatabaseUnavailable, psycopg.Error) as exc:
            _log.warning("bus_leave_failed", group=self.group, error=type(exc).__name__)
        self.owned.clear()
        metrics.PARTITIONS_OWNED.labels(self.group).set(0)

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        """Renew the leases while the handler works, however long a batch takes."""
        every = self.settings.lease_seconds / 3
        while not stop.is_set() and not self._closing:
            try:
                await self.heartbeat()
            except (DatabaseUnavailable, psycopg.Error) as exc:
                _log.warning("bus_heartbeat_failed", group=self.group, error=type(exc).__name__)
            await _wait(stop, None, every)

    async def heartbeat(self) -> set[int]:
        """Renew this member's leases; return the partitions it still holds."""
        async with self.bus.database.connection() as conn:
            cur = await conn.execute(
                q("heartbeat"),
                {"group": self.group, "member": self.member, "lease": self.settings.lease_seconds},
            )
            row = await cur.fetchone()
        assert row is not None
        self.members = int(row[0])
        return {int(p) for p in row[1]}

    async def rebalance(self) -> None:
        """Hold a fair share of the partitions: release the surplus, claim free ones."""
        # Only here (between batches) does `owned` change: leases lost meanwhile drop out.
        self.owned = await self.heartbeat()
        fair = math.ceil(self.settings.partitions / max(self.members, 1))
        params: dict[str, Any] = {
            "group": self.group,
            "member": self.member,
            "lease": self.settings.lease_seconds,
        }
        async with self.bus.database.connection() as conn:
            if len(self.owned) > fair:
                surplus = sorted(self.owned)[fair:]
                await conn.execute(q("release"), {**params, "partitions": surplus})
                self.owned -= set(surplus)
            elif len(self.owned) < fair:
                cur = await conn.execute(q("claim"), {**params, "count": fair - len(self.owned)})
                self.owned |= {int(r[0]) for r in await cur.fetchall()}
        metrics.PARTITIONS_OWNED.labels(self.group).set(len(self.owned))

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if now >= self._next_rebalance:
            self._next_rebalance = now + self.settings.lease_seconds / 3
            await self.rebalance()
        if now >= self._next_retention:
            self._next_retention = now + _RETENTION_CHECK_EVERY_S
            await self.bus.maybe_apply_retention()
        if now >= self._next_redrive:
            self._next_redrive = now + _REDRIVE_EVERY_S
            await self.redrive()

    # -- delivery --------------------------------------------------------------------------

    async def cycle(self) -> bool:
        """Deliver what is ready on the leased partitions; True when anything was delivered."""
        if not self.owned:
            return False
        batches = await self._fetch()
        if not batches:
            return False
        normal = [b for b in batches if not b.isolated]
        if normal:
            await self._deliver(normal)
        for batch in batches:
            if batch.isolated:
                await self._deliver_isolated(batch)
        return True

    async def _fetch(self) -> list[_PartitionBatch]:
        per_partition = max(1, math.ceil(self.batch_size / max(len(self.owned), 1)))
        async with self.bus.database.connection() as conn:
            cur = await conn.execute(
                q("fetch"),
                {
                    "group": self.group,
                    "member": self.member,
                    "topics": self.topics,
                    "limit": per_partition,
                },
            )
            rows = await cur.fetchall()
        batches: dict[int, _PartitionBatch] = {}
        for row in rows:
            (partition, from_xid, from_seq, attempts, isolated, seq, xid, topic, key) = row[:9]
            (message_id, payload, headers, published_at) = row[9:]
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = _PartitionBatch(
                    partition, from_xid, from_seq, attempts, isolated
                )
            message = Message(topic, key, loads(payload), id=message_id, headers=loads(headers))
            record = Record(message, offset=seq, attempt=attempts + 1, published_at=published_at)
            batch.items.append(_Fetched(record, xid, payload, headers))
        return list(batches.values())

    async def _handle(self, records: Sequence[Record]) -> BaseException | None:
        started = time.perf_counter()
        try:
            await self.consumer.handle(records)
        except Exception as exc:
            return exc
        finally:
            metrics.HANDLE_SECONDS.labels(self.group).observe(time.perf_counter() - started)
        return None

    async def _deliver(self, batches: list[_PartitionBatch]) -> None:
        records = [item.record for b in batches for item in b.items]
        error = await self._handle(records)
        if error is None:
            await self._commit(batches)
            metrics.HANDLED.labels(self.group, "ok").inc(len(records))
            return
        _log.warning(
            "bus_batch_failed",
            group=self.group,
            records=len(records),
            partitions=[b.partition for b in batches],
            error=describe_error(error),
        )
        metrics.HANDLED.labels(self.group, "failed").inc(len(records))
        await self._fail(batches, error)

    async def _deliver_isolated(self, batch: _PartitionBatch) -> None:
        item = batch.items[0]
        error = await self._handle([item.record])
        if error is None:
            await self._commit([batch])
            metrics.HANDLED.labels(self.group, "ok").inc()
            return
        attempt = item.record.attempt
        message = item.record.message
        if attempt >= self.settings.max_attempts:
            await self._dead_letter(batch, item, error)
            metrics.HANDLED.labels(self.group, "dead_letter").inc()
            _log.error(
                "bus_dead_letter",
                group=self.group,
                message_id=message.id,
                topic=message.topic,
                offset=item.record.offset,
                attempts=attempt,
                error=describe_error(error),
                trace_key=message.headers.get("trace_key"),
            )
            return
        metrics.HANDLED.labels(self.group, "failed").inc()
        _log.warning(
            "bus_retry",
            group=self.group,
            message_id=message.id,
            offset=item.record.offset,
            attempt=attempt,
            error=describe_error(error),
        )
        await self._fail([batch], error)

    async def _commit(self, batches: list[_PartitionBatch]) -> None:
        params = {
            "group": self.group,
            "member": self.member,
            "partitions": [b.partition for b in batches],
            "from_xids": [b.from_xid for b in batches],
            "from_seqs": [b.from_seq for b in batches],
            "xids": [b.items[-1].xid for b in batches],
            "seqs": [b.items[-1].record.offset for b in batches],
        }
        async with self.bus.database.connection() as conn:
            cur = await conn.execute(q("commit"), params)
            advanced = {int(r[0]) for r in await cur.fetchall()}
        lost = {b.partition for b in batches} - advanced
        if lost:
            # A replay moved the position, or the lease went to another member: it redelivers.
            _log.info("bus_commit_skipped", group=self.group, partitions=sorted(lost))

    async def _fail(self, batches: list[_PartitionBatch], error: BaseException) -> None:
        s = self.settings
        params = {
            "group": self.group,
            "member": self.member,
            "error": describe_error(error),
            "partitions": [b.partition for b in batches],
            "from_xids": [b.from_xid for b in batches],
            "from_seqs": [b.from_seq for b in batches],
            "last_xids": [b.items[-1].xid for b in batches],
            "last_seqs": [b.items[-1].record.offset for b in batches],
            "delays": [
                backoff_seconds(b.attempts + 1, s.retry_base_seconds, s.retry_max_seconds)
                for b in batches
            ],
        }
        async with self.bus.database.connection() as conn:
            await conn.execute(q("fail"), params)

    async def _dead_letter(
        self, batch: _PartitionBatch, item: _Fetched, error: BaseException
    ) -> None:
        message = item.record.message
        async with self.bus.database.connection() as conn:
            await conn.execute(
                q("dead_letter"),
                {
                    "group": self.group,
                    "member": self.member,
                    "partition": batch.partition,
                    "from_xid": batch.from_xid,
                    "from_seq": batch.from_seq,
                    "xid": item.xid,
                    "seq": item.record.offset,
                    "topic": message.topic,
                    "key": message.key,
                    "message_id": message.id,
                    "payload": item.payload,
                    "headers": item.headers,
                    "published_at": item.record.published_at,
                    "attempts": item.record.attempt,
                    "error": describe_error(error),
                },
            )

    async def redrive(self) -> int:
        """Deliver the dead letters an operator asked to re-drive (on our partitions)."""
        if not self.owned:
            return 0
        async with self.bus.database.connection() as conn:
            cur = await conn.execute(
                q("redrive_pending"), {"group": self.group, "member": self.member, "limit": 100}
            )
            rows = await cur.fetchall()
        done = 0
        for row in rows:
            (dl_id, seq, topic, key, message_id, payload, headers, published_at, attempts) = row
            message = Message(topic, key, loads(payload), id=message_id, headers=loads(headers))
            record = Record(message, offset=seq, attempt=attempts + 1, published_at=published_at)
            error = await self._handle([record])
            async with self.bus.database.connection() as conn:
                if error is None:
                    await conn.execute(q("redrive_done"), {"id": dl_id})
                    metrics.HANDLED.labels(self.group, "redriven").inc()
                    done += 1
                else:
                    await conn.execute(
                        q("redrive_failed"), {"id": dl_id, "error": describe_error(error)}
                    )
                    metrics.HANDLED.labels(self.group, "dead_letter").inc()
        return done


async def _wait(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> bool:
    """Wait for `wake`, `stop` or the timeout; True when woken by `wake`."""
    events = [stop] if wake is None else [stop, wake]
    if any(e.is_set() for e in events):
        return wake is not None and wake.is_set()
    tasks = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return wake is not None and wake.is_set()
