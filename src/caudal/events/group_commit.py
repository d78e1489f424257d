"""Group commit for the ingestion hot path: concurrent requests' events share one transaction.

Each request waits until *its* events are committed (a 202 still means durable), but while one
commit is in flight the next requests queue up and are written together by the next one. Idle:
no added delay (one turn of the event loop before a group is taken, so the requests that reach
`publish` in that turn join it: ~14 → ~17 events per commit at c=64 over 2 API processes).
Loaded: one commit (and one bus NOTIFY) per group instead of per request, which is what lets a
single PostgreSQL take thousands of requests per second.

When requests were queued behind the last commit (the load is on), the drain waits up to
`GATHER_SECONDS` (1 ms) more before it takes the next group, or not at all once the queue holds
a full group (`max_messages`): meanwhile the requests that commit answered send their responses
and their clients' next requests join. Frontend ×1 over 2 API processes: at c=64 ~17 → ~30
events per commit, ~5 % less API CPU and ~13-20 % less PostgreSQL CPU per request; at c=16
4 → 7 events per commit, ~14 % and ~27 % less; ×20 (~320 → ~560 events per commit) neutral.
The p99 at c=64 was unchanged at load ~2, worse in some runs while other work loaded the
machine (bench/profiles/README.md, "Group commit gather"; `gather_seconds=0` is the old way). A
commit's cost is mostly per commit, not per event: one publish statement per group (prepared
by psycopg from its 5th use on a connection) took ~135 µs per commit + ~24 µs per event on a
quiet machine and ~420 µs per commit under HTTP load; PostgreSQL's own `commit_delay` and
`wal_sync_method=open_datasync` did not lower it. A quiet process never waits: its first
request's group is taken after one loop turn.

It writes through its own small pool (`database`, max_inflight connections): the hot path never
waits behind other work for a connection, and its connections send list parameters in binary
(no per-character escaping of the JSON payloads: the largest CPU cost of a publish in text).

One commit is in flight at a time (larger groups: bench/profiles/README.md), except when the one
in flight has run for longer than a few times a commit's usual duration (`stalled_after`): a
statement waiting on a lock (a duplicate id another transaction holds) or a slow disk would
otherwise hold back every ingestion of the process until it ends or hits the statement
timeout. Then another commit starts beside it, up to `max_inflight`; the stalled one's requests
keep waiting for their own outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from caudal.platform.bus.model import Message
from caudal.platform.bus.port import Bus
from caudal.platform.db.arrays import send_lists_in_binary
from caudal.platform.db.pool import Database, DatabaseUnavailable

_Waiting = tuple[Sequence[Message], asyncio.Future[None]]

# A commit in flight longer than this many times the usual (an average over recent commits,
# each counted at most at the bound) is stalled; never less than the floor, so the load's
# ordinary jitter does not split groups.
STALL_FACTOR = 4.0
STALL_FLOOR_SECONDS = 0.05

# How long a drain waits before taking the next group when requests were queued behind its
# last commit (never on an idle start, never once the queue holds a full group). Meanwhile the
# requests the last commit answered send their responses and their clients' next requests reach
# `publish`: larger groups, fewer commits (a commit costs PostgreSQL and the API far more than an
# event: bench/profiles/README.md). 1 ms is a few requests' API CPU (~0.2 ms each), so a few
# more join; it is small beside the 50 ms p99 goal, and a quiet process never pays it.
GATHER_SECONDS = 0.001


class _Slot:
    """A drain in flight: when its current commit began."""

    __slots__ = ("began",)

    def __init__(self, began: float) -> None:
        self.began = began


class GroupCommit:
    def __init__(
        self,
        database: Database,
        bus: Bus,
        max_messages: int = 5000,
        max_inflight: int = 2,
        stall_floor_seconds: float = STALL_FLOOR_SECONDS,
        gather_seconds: float = GATHER_SECONDS,
    ) -> None:
        self.database = database
        self.bus = bus
        self.max_messages = max_messages
        self.max_inflight = max_inflight
        self.stall_floor = stall_floor_seconds
        self.gather_seconds = gather_seconds
        self._queue: list[_Waiting] = []
        self._queued = 0  # messages in `_queue`
        self._gathering: set[asyncio.Future[None]] = set()  # drains waiting for a fuller group
        self._inflight: set[_Slot] = set()
        self._usual = stall_floor_seconds / STALL_FACTOR  # seconds, a moving average
        self._tasks: set[asyncio.Task[None]] = set()
        self._open_lock = asyncio.Lock()
        self.opened = False  # the pool opens on first use: worker processes never ingest

    async def _ensure_open(self) -> None:
        if self.opened:
            return
        async with self._open_lock:
            if not self.opened:
                await self.database.open()
                self.opened = True

    async def publish(self, messages: Sequence[Message]) -> None:
        """Return once `messages` are committed on the bus (raise if they could not be)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((messages, future))
        self._queued += len(messages)
        if self._gathering and self._queued >= self.max_messages:
            for gathering in self._gathering:  # a full group is taken at once
                if not gathering.done():
                    gathering.set_result(None)
        self._start()
        await future

    def stalled_after(self) -> float:
        return max(self.stall_floor, STALL_FACTOR * self._usual)

    def _start(self) -> None:
        """A drain if none runs, or another beside the ones in flight if they all stalled."""
        inflight = self._inflight
        if inflight and (
            len(inflight) >= self.max_inflight
            or time.monotonic() - max(s.began for s in inflight) < self.stalled_after()
        ):
            return
        slot = _Slot(time.monotonic())
        inflight.add(slot)
        task = asyncio.create_task(self._drain(slot))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _recheck(self) -> None:
        if self._queue:
            self._start()

    async def _drain(self, slot: _Slot) -> None:
        loop = asyncio.get_running_loop()
        queued_behind = False  # an idle start: the first group after one loop turn
        try:
            while self._queue:
                # Set before the wait: a drain gathering counts as in flight (none starts beside
                # it), and its cycle, the wait included, is what `_usual` averages.
                slot.began = began = time.monotonic()
                if queued_behind and self._queued < self.max_messages and self.gather_seconds > 0:
                    # Requests queued behind the last commit: the load is on, so wait a little
                    # for more to join (GATHER_SECONDS) rather than commit a group per turn.
                    await self._gather(loop)
                else:
                    # One turn of the event loop before the group is taken: the requests whose
                    # bytes arrived with the last commit's answer run up to `publish` in that
                    # turn and join this group instead of waiting a whole commit for the next.
                    await asyncio.sleep(0)
                queued_behind = True
                group = self._take()
                if not group:  # a drain beside a stalled one took them meanwhile
                    continue
                bound = self.stalled_after()
                # requests queued behind a stall start the next commit as soon as it is one
                check = loop.call_later(bound, self._recheck)
                try:
                    await self._commit(group)
                finally:
                    check.cancel()
                self._usual += (min(time.monotonic() - began, bound) - self._usual) / 16
        finally:
            self._inflight.discard(slot)

    async def _gather(self, loop: asyncio.AbstractEventLoop) -> None:
        """`gather_seconds`, or until the queue holds a full group (`publish` wakes it)."""
        waiter: asyncio.Future[None] = loop.create_future()
        self._gathering.add(waiter)
        timer = loop.call_later(self.gather_seconds, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._gathering.discard(waiter)

    def _take(self) -> list[_Waiting]:
        taken: list[_Waiting] = []
        count = 0
        while self._queue and (not taken or count + len(self._queue[0][0]) <= self.max_messages):
            item = self._queue.pop(0)
            taken.append(item)
            count += len(item[0])
        self._queued -= count
        return taken

    async def _commit(self, group: list[_Waiting]) -> None:
        try:
            await self._write([m for messages, _ in group for m in messages])
        except DatabaseUnavailable as exc:
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        except Exception as exc:
            if len(group) == 1:
                if not group[0][1].done():
                    group[0][1].set_exception(exc)
                return
            # One request's events broke the group: write each alone so only it fails.
            for item in group:
                await self._commit([item])
            return
        for _, future in group:
            if not future.done():
                future.set_result(None)

    async def _write(self, messages: list[Message]) -> None:
        await self._ensure_open()
        async with self.database.connection(autocommit=True) as conn:  # one statement
            send_lists_in_binary(conn)  # this pool is ours alone
            await self.bus.publish(messages, conn)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
