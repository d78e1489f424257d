"""The `lake` sink: Parquet files written straight from bus deliveries, named after bus offsets.

No copy of the events is kept anywhere else: the bus already holds them durably until the `lake`
group commits its offsets, which it does only after the files are written.

Exactly-once into the lake, whatever the redeliveries and replays: a delivery writes, per lake
directory and bus partition, one file named after its span of bus offsets, leaving out the
events that the files whose spans overlap it already hold (`lake_spans.py`). A redelivered
range rewrites its own file (or writes nothing); a replay cut elsewhere adds only what is
missing: never a second copy.
One bus partition's files are written by one delivery at a time (an advisory lock per bus
partition: a member that lost its lease may still be writing), so no merge is lost.

Like Firehose, a delivery smaller than `flush_max_events` of fresh events waits until its
oldest is half `flush_max_seconds` old, so an idle trickle makes few files (a backlog is written
at once: old events, or a bus partition that gave its whole share); `caudal lake flush` wakes
it, and so does a graceful stop (`hurry`): a stopping worker writes what it holds instead of
waiting out the linger.
Compaction (`lake_compact`) takes the writers' lock exclusively, so it never merges a file
that a delivery is rewriting. A delivery checks the erasure barrier (`events/erasure_barrier.py`)
under its bus partitions' locks, which an erasure's file scan (`lake_erasure`) takes in turn
after its database commit: so it either writes before the scan (which then rewrites its file)
or leaves out the events received before an erasure of a token they hold, however long it
lingered in memory.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from caudal.bus.codec import partition_of
from caudal.bus.delivery import wait_any
from caudal.bus.notify import Notifier
from caudal.bus.postgres import NOTIFY_CHANNEL
from caudal.events import erasure_barrier, lake_spans
from caudal.events.erasure_barrier import Erased, ErasedTokens
from caudal.events.erasure_barrier_postgres import PostgresErasedTokens
from caudal.events.lake_files import LakeFiles, Partition
from caudal.events.model import CanonicalEvent
from caudal.platform.db.pool import Database
from caudal.platform.settings import LakeSettings

_log = structlog.get_logger("caudal.events.lake")
LAKE_LOCK = 0x6C616B65  # "lake": writers share it, compaction takes it alone
FLUSH_TOPIC = "caudal.lake.flush"  # a bus notification that wakes lingering lake deliveries
FLUSH_HURRY_S = 10.0  # after a flush request, no delivery lingers for this long

Position = tuple[str, int, datetime]  # the record's bus key, offset and publication time
Plan = dict[tuple[Partition, int], list[tuple[int, CanonicalEvent]]]  # (dir, bus partition)


class LakeSink:
    name = "lake"
    positioned = True  # the router passes each event's bus position (`Position`)

    def __init__(
        self,
        database: Database,
        files: LakeFiles,
        settings: LakeSettings,
        partitions: int,
        notifier: Notifier | None = None,
        erased: ErasedTokens | None = None,
    ) -> None:
        self.database = database
        self.erased = erased or PostgresErasedTokens()
        self.files = files
        self.settings = settings
        self.partitions = partitions
        self.batch_size = settings.flush_max_events  # records per delivery from the bus
        # The least the bus hands one partition in a delivery when more is waiting there (its
        # share when a member owns every partition): a partition that gave this much is a
        # backlog, even when the events are fresh and the delivery as a whole is small.
        self.partition_share = math.ceil(self.batch_size / partitions)
        self.notifier = notifier  # the bus's LISTEN connection, for `caudal lake flush`
        self._hurry_until = 0.0
        self._stopping = asyncio.Event()

    def hurry(self) -> None:
        """The worker is stopping: write every delivery now, the held one included."""
        self._stopping.set()

    async def write(
        self, events: Sequence[CanonicalEvent], positions: Sequence[Position] = ()
    ) -> None:
        if not events:
            return
        if len(positions) != len(events):
            raise ValueError("the lake sink names its files after bus positions: pass them")
        plan = self.plan(events, positions)
        await self._linger(len(events), _busiest(plan), min(p[2] for p in positions))
        bus_partitions = sorted({p for _, p in plan})
        # Session-level locks, held while the files are written: no transaction stays open.
        async with self.database.connection(autocommit=True) as conn:
            try:
                await conn.execute("SELECT pg_advisory_lock_shared(%s)", (LAKE_LOCK,))
                for p in bus_partitions:  # in order: two members never wait in a cycle
                    await conn.execute("SELECT pg_advisory_lock(%s, %s)", (LAKE_LOCK, p))
                erased = await self.erased.since(
                    conn, erasure_barrier.horizon(events), lambda: erasure_barrier.windows(events)
                )
                if erased:
                    plan = without_erased(plan, erased)
                writing = asyncio.ensure_future(asyncio.to_thread(self._write_files, plan))
                try:
                    written = await asyncio.shield(writing)
                finally:
                    await asyncio.wait({writing})  # cancelled or not: the files, then the locks
            finally:
                await conn.execute("SELECT pg_advisory_unlock_all()")
        _log.debug("lake_written", rows=len(events), files=written)

    async def _linger(self, count: int, busiest: int, oldest: datetime) -> None:
        """A small delivery of fresh events waits until its oldest event is half the flush age
        old (the next delivery then holds what arrived meanwhile): a trickle makes few files. A
        full delivery or a backlog is written at once: old events, or a bus partition that gave
        its share (traffic on a few keys: waiting would not let the next delivery take more,
        only hold a fast stream back by half the flush age)."""
        if (
            count >= self.settings.flush_max_events
            or busiest >= self.partition_share
            or time.monotonic() < self._hurry_until
        ):
            return
        age = (datetime.now(UTC) - oldest).total_seconds()
        delay = self.settings.flush_max_seconds / 2 - age
        if delay <= 0:
            return
        if self.notifier is None:
            await wait_any(self._stopping, None, delay)
            return
        wake = self.notifier.subscribe([FLUSH_TOPIC])
        try:
            await wait_any(self._stopping, wake, delay)
        finally:
            await self.notifier.unsubscribe(wake)
        if wake.is_set():  # `caudal lake flush`: write now, and the next deliveries too
            self._hurry_until = time.monotonic() + FLUSH_HURRY_S

    def plan(self, events: Sequence[CanonicalEvent], positions: Sequence[Position]) -> Plan:
        """(offset, event) per lake directory and bus partition, in delivery order."""
        groups: dict[tuple[str, str, str, int], list[tuple[int, CanonicalEvent]]] = {}
        days: dict[datetime, str] = {}  # a batch's events share few distinct times
        partitions: dict[str, int] = {}
        for event, (key, offset, _) in zip(events, positions, strict=True):
            day = days.get(event.occurred_at)
            if day is None:
                day = days[event.occurred_at] = event.occurred_at.astimezone(UTC).date().isoformat()
            p = partitions.get(key)
            if p is None:
                p = partitions[key] = partition_of(key, self.partitions)
            where = (event.source, event.type, day, p)
            members = groups.get(where)
            if members is None:
                members = groups[where] = []
            members.append((offset, event))
        return {(Partition(s, t, d), p): m for (s, t, d, p), m in groups.items()}

    def _write_files(self, plan: Plan) -> int:
        """Write each (directory, bus partition) group's events that no file holds yet, in the
        file named after their span of offsets; return how many files were (re)written. A
        failure leaves the files written so far: the retried delivery finds them (their spans
        overlap its records) and adds only what they miss."""
        written = 0
        partitions: dict[str, set[int]] = {}
        for lake_dir, bus_partition in plan:
            partitions.setdefault(lake_dir.path(), set()).add(bus_partition)
        listed: dict[str, dict[int, list[lake_spans.Span]]] = {}
        for (lake_dir, bus_partition), members in plan.items():
            path = lake_dir.path()
            if path not in listed:
                listed[path] = lake_spans.by_partition(self.files.names(path), partitions[path])
            span = lake_spans.of_offsets(bus_partition, (offset for offset, _ in members))
            held: set[str] = set()
            # `Span.overlaps` inlined (the partition is the same): a comparison per file of
            # the partition, thousands in a long backlog's directory
            first, last = span.first, span.last
            for other in listed[path][bus_partition]:
                if other.first <= last and first <= other.last:
                    held |= self.files.ids_in(path, other.name)
            fresh = [(offset, e) for offset, e in members if e.id not in held]
            if not fresh:
                continue  # a replayed range every file already holds
            target = lake_spans.of_offsets(bus_partition, (offset for offset, _ in fresh))
            if self.files.merge_events(path, target.name, [e for _, e in fresh]) is not None:
                written += 1
                if target not in listed[path][bus_partition]:
                    listed[path][bus_partition].append(target)
        return written


def _busiest(plan: Plan) -> int:
    """The most events one bus partition gave the delivery."""
    counts: dict[int, int] = {}
    for (_, bus_partition), members in plan.items():
        counts[bus_partition] = counts.get(bus_partition, 0) + len(members)
    return max(counts.values(), default=0)


def without_erased(plan: Plan, erased: Erased) -> Plan:
    """The plan less the events the erasure barrier holds back (rare: an erasure meanwhile)."""
    kept = {
        where: [(o, e) for o, e in members if not erasure_barrier.holds_erased(e, erased)]
        for where, members in plan.items()
    }
    return {where: members for where, members in kept.items() if members}


@dataclass
class FlushResult:
    rows: int = 0
    files: int = 0
    caught_up: bool = True


async def flush_now(
    database: Database, files: LakeFiles, lag: Callable[[], Awaitable[int]], within_s: float = 60
) -> FlushResult:
    """`caudal lake flush`: wake the lingering lake deliveries of every worker until the `lake`
    group has delivered everything on the bus; report what was written meanwhile."""
    rows, count = await asyncio.to_thread(files.census)
    deadline = time.monotonic() + within_s
    caught_up = False
    while time.monotonic() < deadline:
        async with database.connection() as conn:
            await conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, FLUSH_TOPIC))
            await conn.commit()
        if await lag() == 0:
            caught_up = True
            break
        await asyncio.sleep(0.3)
    rows_after, count_after = await asyncio.to_thread(files.census)
    return FlushResult(rows_after - rows, count_after - count, caught_up)
