"""The in-memory bus adapter: the bus contract inside one event loop, with no I/O.

For unit tests of domain services and for the conformance suite: partitions, consumer groups
with leases shared among members, retries with backoff, dead letters and re-drive, replay and lag
behave as on the durable adapters. Nothing survives the process, and `publish(conn=...)` cannot
join a database transaction: the messages are appended at once.
"""

from __future__ import annotations

import asyncio
import bisect
import dataclasses
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from caudal.bus import assignment, errors, metrics
from caudal.bus.codec import dumps, loads, partition_of
from caudal.bus.delivery import Delivery, wait_any
from caudal.platform.bus.model import DeadLetter, GroupStatus, Message, Record
from caudal.platform.bus.port import Consumer
from caudal.platform.settings import BusSettings


@dataclass
class _Group:
    topics: tuple[str, ...]
    partitions: int
    positions: list[int]  # per partition: the offset of the last committed record
    epoch: int = 0  # bumped by replay: a commit read before it is ignored
    owners: dict[int, tuple[str, float]] = field(default_factory=dict)  # partition: member, until
    members: dict[str, tuple[float, float]] = field(default_factory=dict)  # member: joined, beat
    deliveries: dict[str, Delivery] = field(default_factory=dict)


class MemoryBus:
    """Implements `bus.port.Bus` and `bus.port.BusAdmin` in memory."""

    def __init__(self, settings: BusSettings | None = None) -> None:
        self.settings = settings or BusSettings()
        self._records: list[tuple[int, Record]] = []  # (partition, record), offset = index + 1
        self._by_partition: dict[int, list[Record]] = {}
        self._ids: set[str] = set()
        self._groups: dict[str, _Group] = {}
        self._dead: list[DeadLetter] = []
        self._wake: dict[asyncio.Event, frozenset[str]] = {}

    # -- publish ---------------------------------------------------------------------------

    async def publish(self, messages: Sequence[Message], conn: object = None) -> None:
        now = datetime.now(UTC)
        woken: set[str] = set()
        for m in messages:
            if m.id in self._ids:
                continue
            self._ids.add(m.id)
            # A copy through JSON, as the durable adapters store it (Decimal travels as text).
            stored = Message(m.topic, m.key, loads(dumps(m.payload)), m.id, dict(m.headers))
            record = Record(stored, offset=len(self._records) + 1, attempt=1, published_at=now)
            partition = partition_of(m.key, self.settings.partitions)
            self._records.append((partition, record))
            self._by_partition.setdefault(partition, []).append(record)
            metrics.PUBLISHED.labels(m.topic).inc()
            woken.add(m.topic)
        for event, topics in self._wake.items():
            if topics & woken:
                event.set()

    # -- consume ---------------------------------------------------------------------------

    async def consume(self, consumer: Consumer, stop: asyncio.Event) -> None:
        await self.member(consumer).run(stop)

    def member(self, consumer: Consumer) -> MemoryMember:
        return MemoryMember(self, consumer)

    def _group(self, consumer: Consumer) -> _Group:
        group = self._groups.get(consumer.group)
        partitions = self.settings.partitions
        if group is None or group.topics != tuple(consumer.topics):
            positions = group.positions if group else [0] * partitions
            group = self._groups[consumer.group] = _Group(
                tuple(consumer.topics), partitions, positions
            )
        return group

    def _pending(self, group: _Group) -> list[Record]:
        return [
            r
            for p, r in self._records
            if r.message.topic in group.topics and r.offset > group.positions[p]
        ]

    # -- admin -----------------------------------------------------------------------------

    async def status(self) -> list[GroupStatus]:
        now = time.monotonic()
        found = []
        for name, g in sorted(self._groups.items()):
            pending = self._pending(g)
            errors = [e for d in g.deliveries.values() for e in d.retrying()]
            found.append(
                GroupStatus(
                    group=name,
                    topics=g.topics,
                    partitions=g.partitions,
                    owned=sum(1 for _, until in g.owners.values() if until >= now),
                    members=len(_live(g, now, self.settings.lease_seconds)),
                    lag=len(pending),
                    dead_letters=sum(1 for d in self._dead if d.group == name),
                    retrying=len(errors),
                    last_error=errors[-1] if errors else None,
                    oldest_pending_at=pending[0].published_at if pending else None,
                )
            )
        return found

    async def group_lag(self, group: str) -> int:
        return len(self._pending(self._groups[group])) if group in self._groups else 0

    async def replay(
        self, group: str, *, from_offset: int | None = None, since: datetime | None = None
    ) -> int:
        if (from_offset is None) == (since is None):
            raise ValueError("give exactly one of from_offset or since")
        g = self._groups.get(group)
        if g is None:
            raise LookupError(group)
        if since is not None:
            first = next((r.offset for _, r in self._records if r.published_at >= since), None)
            from_offset = first if first is not None else len(self._records) + 1
        assert from_offset is not None
        g.positions = [max(from_offset - 1, 0)] * g.partitions
        g.epoch += 1
        for delivery in g.deliveries.values():
            delivery.retry.clear()
        return len(self._pending(g))

    async def dead_letters(self, group: str | None = None, limit: int = 100) -> list[DeadLetter]:
        return [d for d in self._dead if group is None or d.group == group][:limit]

    async def redrive(self, group: str | None = None, ids: Sequence[int] = ()) -> int:
        count = 0
        for i, d in enumerate(self._dead):
            if (group is None or d.group == group) and (not ids or d.id in ids):
                self._dead[i] = dataclasses.replace(d, redrive_requested=True)
                count += 1
        return count

    async def drop_group(self, group: str) -> bool:
        return self._groups.pop(group, None) is not None


def _live(group: _Group, now: float, lease: float) -> list[str]:
    """Live members, oldest first (every member computes the same fair shares from it)."""
    alive = [(joined, m) for m, (joined, beat) in group.members.items() if beat >= now - lease]
    return [m for _, m in sorted(alive)]


class MemoryMember:
    """One member of a consumer group on the in-memory bus."""

    def __init__(self, bus: MemoryBus, consumer: Consumer) -> None:
        self.bus = bus
        self.consumer = consumer
        self.name = uuid.uuid4().hex[:8]
        self.group = bus._group(consumer)
        self.owned: set[int] = set()
        self.delivery = Delivery(consumer, self, bus.settings)
        self._epochs: dict[int, int] = {}
        self._next_rebalance = 0.0

    async def rebalance(self) -> None:
        """Heartbeat, then hold a fair share of the partitions (release surplus, claim free)."""
        g, s = self.group, self.bus.settings
        now = time.monotonic()
        joined = g.members.get(self.name, (now, now))[0]
        g.members[self.name] = (joined, now)
        lost = {p for p in self.owned if g.owners.get(p, ("", 0.0))[0] != self.name}
        self.owned -= lost
        self.delivery.forget(lost)
        share = assignment.target(_live(g, now, s.lease_seconds), self.name, g.partitions)
        until = now + s.lease_seconds
        for p in sorted(self.owned)[share:]:
            del g.owners[p]
            self.owned.discard(p)
            self.delivery.forget({p})
        for p in range(g.partitions):
            if len(self.owned) >= share:
                break
            owner = g.owners.get(p)
            if owner is None or owner[1] < now:
                self.owned.add(p)
        for p in self.owned:
            g.owners[p] = (self.name, until)

    async def run(self, stop: asyncio.Event) -> None:
        g, s = self.group, self.bus.settings
        g.deliveries[self.name] = self.delivery
        wake = asyncio.Event()
        self.bus._wake[wake] = frozenset(g.topics)
        try:
            while not stop.is_set():
                now = time.monotonic()
                if now >= self._next_rebalance:
                    self._next_rebalance = now + s.lease_seconds / 3
                    await self.rebalance()
                await self._redrive()
                if await self.delivery.cycle(self.owned):
                    await asyncio.sleep(0)
                    continue
                retry = self.delivery.next_retry_in()
                timeout = min(s.poll_interval_seconds, s.lease_seconds / 3, retry or 1e9)
                await wait_any(stop, wake, timeout)
                wake.clear()
        finally:
            self.bus._wake.pop(wake, None)
            g.deliveries.pop(self.name, None)
            g.members.pop(self.name, None)
            for p in self.owned:
                if g.owners.get(p, ("",))[0] == self.name:
                    del g.owners[p]
            self.owned.clear()

    # -- PartitionLog ----------------------------------------------------------------------

    async def read(self, partition: int, limit: int) -> list[Record]:
        g = self.group
        self._epochs[partition] = g.epoch
        records = self.bus._by_partition.get(partition, [])
        start = bisect.bisect_right(records, g.positions[partition], key=lambda r: r.offset)
        found: list[Record] = []
        for r in records[start:]:
            if r.message.topic in g.topics:
                found.append(r)
                if len(found) >= limit:
                    break
        return found

    async def commit(self, partition: int, through: Record) -> None:
        g = self.group
        if self._epochs.get(partition) == g.epoch and partition in self.owned:
            g.positions[partition] = through.offset

    async def dead_letter(self, partition: int, record: Record, error: str) -> None:
        self.bus._dead.append(
            DeadLetter(
                id=len(self.bus._dead) + 1,
                group=self.consumer.group,
                offset=record.offset,
                message=record.message,
                attempts=record.attempt,
                last_error=error,
                published_at=record.published_at,
                failed_at=datetime.now(UTC),
                redrive_requested=False,
            )
        )
        await self.commit(partition, record)

    async def _redrive(self) -> None:
        dead = self.bus._dead
        for d in list(dead):
            if d.group != self.consumer.group or not d.redrive_requested:
                continue
            if partition_of(d.message.key, self.group.partitions) not in self.owned:
                continue
            record = Record(d.message, d.offset, d.attempts + 1, d.published_at)
            error = await self.delivery.handle([record])
            if error is None:
                dead.remove(d)
                metrics.HANDLED.labels(d.group, "redriven").inc()
            else:
                dead[dead.index(d)] = dataclasses.replace(
                    d,
                    redrive_requested=False,
                    attempts=d.attempts + 1,
                    last_error=errors.describe(error),
                    failed_at=datetime.now(UTC),
                )
