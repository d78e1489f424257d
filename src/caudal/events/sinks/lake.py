"""The `lake` sink: Parquet files written straight from bus deliveries, named after bus positions.

No copy of the events is kept anywhere else: the bus already holds them durably until the `lake`
group commits its offsets, which it does only after the files are written.

Exactly-once into the lake: within a bus partition the delivery order is fixed, and a delivery
that was not committed (a crash, a lost lease, a failed write) is redone from the same position.
Each file holds the records of *one* bus partition for one lake directory and is named after the
first of them (`part-p<partition>-<offset>.parquet`). A redone delivery therefore writes every
file its first attempt wrote under the same name, replacing it (partial or complete): if it ends
earlier, the rest of the old file's records come in the next delivery, whose file for that
directory starts with the first of them and so again carries the old file's name.

Like Firehose, a delivery smaller than `flush_max_events` of fresh events waits until its
oldest is half `flush_max_seconds` old, so an idle trickle makes few files (a backlog is written
at once); `caudal lake flush` wakes it.
Compaction (`lake_compact`) takes the writers' lock exclusively, so it never merges a file
that a redone delivery is rewriting.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from caudal.bus.codec import partition_of
from caudal.bus.notify import Notifier
from caudal.bus.postgres import NOTIFY_CHANNEL
from caudal.events.lake_files import LakeFiles, Partition
from caudal.events.model import CanonicalEvent
from caudal.platform.db.pool import Database
from caudal.platform.settings import LakeSettings

_log = structlog.get_logger("caudal.events.lake")
LAKE_LOCK = 0x6C616B65  # "lake": writers share it, compaction takes it alone
FLUSH_TOPIC = "caudal.lake.flush"  # a bus notification that wakes lingering lake deliveries
FLUSH_HURRY_S = 10.0  # after a flush request, no delivery lingers for this long

Position = tuple[str, int, datetime]  # the record's bus key, offset and publication time


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
    ) -> None:
        self.database = database
        self.files = files
        self.settings = settings
        self.partitions = partitions
        self.batch_size = settings.flush_max_events  # records per delivery from the bus
        self.notifier = notifier  # the bus's LISTEN connection, for `caudal lake flush`
        self._hurry_until = 0.0

    async def write(
        self, events: Sequence[CanonicalEvent], positions: Sequence[Position] = ()
    ) -> None:
        if not events:
            return
        if len(positions) != len(events):
            raise ValueError("the lake sink names its files after bus positions: pass them")
        await self._linger(len(events), min(p[2] for p in positions))
        parts = self.parts(events, positions)
        async with self.database.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock_shared(%s)", (LAKE_LOCK,))
            writing = asyncio.ensure_future(asyncio.to_thread(self._write_files, parts))
            try:
                written = await asyncio.shield(writing)
            finally:
                await asyncio.wait({writing})  # cancelled or not: the files first, then the lock
                await conn.execute("SELECT pg_advisory_unlock_shared(%s)", (LAKE_LOCK,))
        _log.debug("lake_written", rows=len(events), files=len(written))

    async def _linger(self, count: int, oldest: datetime) -> None:
        """A small delivery of fresh events waits until its oldest event is half the flush age
        old (the next delivery then holds what arrived meanwhile): a trickle makes few files. A
        backlog (old events) or a full delivery is written at once."""
        if count >= self.settings.flush_max_events or time.monotonic() < self._hurry_until:
            return
        age = (datetime.now(UTC) - oldest).total_seconds()
        delay = self.settings.flush_max_seconds / 2 - age
        if delay <= 0:
            return
        if self.notifier is None:
            await asyncio.sleep(delay)
            return
        wake = self.notifier.subscribe([FLUSH_TOPIC])
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)
        finally:
            await self.notifier.unsubscribe(wake)
        if wake.is_set():  # `caudal lake flush`: write now, and the next deliveries too
            self._hurry_until = time.monotonic() + FLUSH_HURRY_S

    def parts(
        self, events: Sequence[CanonicalEvent], positions: Sequence[Position]
    ) -> dict[tuple[Partition, str], list[CanonicalEvent]]:
        """Events per (lake directory, file name), in delivery order."""
        groups: dict[tuple[Partition, int], list[CanonicalEvent]] = defaultdict(list)
        first: dict[tuple[Partition, int], int] = {}
        for event, (key, offset, _) in zip(events, positions, strict=True):
            day = event.occurred_at.astimezone(UTC).strftime("%Y-%m-%d")
            where = (Partition(event.source, event.type, day), partition_of(key, self.partitions))
            groups[where].append(event)
            first.setdefault(where, offset)
        return {
            (
                lake_dir,
                f"part-p{bus_partition:04d}-{first[(lake_dir, bus_partition)]:020d}.parquet",
            ): members
            for (lake_dir, bus_partition), members in groups.items()
        }

    def _write_files(self, parts: dict[tuple[Partition, str], list[CanonicalEvent]]) -> list[str]:
        """Write every file; on a failure remove those written so far (the delivery is retried,
        possibly one record at a time, and must not leave a file a retry would not replace)."""
        written: list[str] = []
        try:
            for (lake_dir, name), members in sorted(parts.items(), key=lambda kv: kv[0][1]):
                written.append(self.files.write_events(lake_dir.path(), name, members))
        except BaseException:
            with contextlib.suppress(OSError):
                self.files.remove(written)
            raise
        return written


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
