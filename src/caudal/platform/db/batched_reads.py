"""Group reads: concurrent lookups by key share one round trip (the read side of
`events/group_commit.py`).

A one-row lookup by primary key is mostly not the row: PostgreSQL's protocol and executor around
it, psycopg's round trip (send, recv, the loop's socket registrations and wake-ups) and the
pool's checkout with its two autocommit switches (bench/profiles/README.md). While one lookup
statement is in flight the next callers queue, and the next statement fetches all their keys at
once. Idle: a caller's key goes out at once, alone (no added delay).

What a caller sees does not change:

- **Read-your-writes.** A caller only joins a batch that has not been sent: the statement that
  answers it starts after the caller arrived, and in autocommit it takes its snapshot when it
  starts, so it sees every commit that returned before the caller asked.
- **Failure.** A batch that fails gives every one of its callers the error (a database that
  cannot be reached is `DatabaseUnavailable`, as through the pool: 503 + Retry-After).
- **Cancellation.** A caller that goes away (client gone) leaves the batch; the others get their
  answers. The statement runs in a task of the loader's, never in a caller's.
- **Deadlines.** Each caller's `deadline_scope` is noted when it queues, and a batch is
  interrupted at the earliest of its callers' deadlines: a frozen server answers everyone
  within their own deadline (the callers of one route share one budget, so those queued behind
  a batch have later deadlines than everyone in it).

The statements go through a pool of the reader's own whose connections stay in autocommit: one
checkout per batch, no BEGIN/COMMIT, no autocommit switch per read.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

from caudal.platform.db.pool import (
    AsyncConn,
    Database,
    DatabaseUnavailable,
    deadline_scope,
    scope_deadline,
)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# (unique keys in arrival order, the batch's deadline in loop time or None) -> value per key
# found; a key without a value is answered None.
Fetch = Callable[[list[K], float | None], Awaitable[Mapping[K, V]]]
# A caller: its key, the future it awaits, its deadline (loop time) or None.
_Waiting = tuple[K, asyncio.Future[V | None], float | None]


class KeyedBatchLoader(Generic[K, V]):
    """Answers `load(key)` from batched `fetch` calls: at most `max_inflight` fetches at once,
    each of at most `max_keys` callers (duplicate keys are fetched once)."""

    def __init__(self, fetch: Fetch[K, V], *, max_keys: int = 128, max_inflight: int = 1) -> None:
        if max_keys < 1 or max_inflight < 1:
            raise ValueError("max_keys and max_inflight must be at least 1")
        self._fetch = fetch
        self.max_keys = max_keys
        self.max_inflight = max_inflight
        self._queue: deque[_Waiting[K, V]] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def load(self, key: K) -> V | None:
        """The value fetched for `key` by a statement sent after this call (None: no row)."""
        if self._closed:
            raise DatabaseUnavailable("the reader closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | None] = loop.create_future()
        self._queue.append((key, future, scope_deadline(loop)))
        if self._running < self.max_inflight:
            self._running += 1
            task = loop.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue and not self._closed:
                await self._serve(self._take())
        finally:
            self._running -= 1

    def _take(self) -> list[_Waiting[K, V]]:
        taken: list[_Waiting[K, V]] = []
        queue = self._queue
        while queue and len(taken) < self.max_keys:
            waiting = queue.popleft()
            if not waiting[1].done():  # a caller cancelled while queued costs no key
                taken.append(waiting)
        return taken

    async def _serve(self, batch: list[_Waiting[K, V]]) -> None:
        if not batch:
            return
        keys = list(dict.fromkeys(key for key, _, _ in batch))
        deadlines = [deadline for _, _, deadline in batch if deadline is not None]
        try:
            found = await self._fetch(keys, min(deadlines) if deadlines else None)
        except asyncio.CancelledError:  # the loader is closing
            _fail(batch, DatabaseUnavailable("the reader closed"))
            raise
        except Exception as exc:
            _fail(batch, exc)
            return
        for key, future, _ in batch:
            if not future.done():
                future.set_result(found.get(key))

    async def close(self) -> None:
        """Stop: batches in flight and callers still queued get `DatabaseUnavailable`."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        _fail(list(self._queue), DatabaseUnavailable("the reader closed"))
        self._queue.clear()


def _fail(batch: Sequence[tuple[object, asyncio.Future[V | None], object]], exc: Exception) -> None:
    for _, future, _ in batch:
        if not future.done():
            future.set_exception(exc)


class BatchedReads(Generic[K, V]):
    """A `KeyedBatchLoader` whose fetches run one statement on a pool of its own, in
    autocommit (one connection per fetch in flight), opened on the first `load` and closed by
    `close`. The pool bounds each fetch by the batch's deadline as it bounds a request's use of
    a connection (`deadline_scope`): the same interruption, the same closing of a connection
    interrupted mid-statement."""

    def __init__(
        self,
        url: str,
        read: Callable[[AsyncConn, list[K]], Awaitable[Mapping[K, V]]],
        *,
        max_keys: int = 128,
        max_inflight: int = 1,
        statement_timeout_ms: int = 30_000,
        configure: Callable[[AsyncConn], None] | None = None,
        application_name: str = "caudal",
    ) -> None:
        self.read = read
        self.database = Database(
            url,
            min_size=max_inflight,
            max_size=max_inflight,
            statement_timeout_ms=statement_timeout_ms,
            autocommit=True,
            configure=configure,
            application_name=application_name,
        )
        self.opened = False
        self._open_lock = asyncio.Lock()
        self.loader: KeyedBatchLoader[K, V] = KeyedBatchLoader(
            self._fetch, max_keys=max_keys, max_inflight=max_inflight
        )

    async def _fetch(self, keys: list[K], deadline: float | None) -> Mapping[K, V]:
        if not self.opened:
            async with self._open_lock:
                if not self.opened:
                    await self.database.open()
                    self.opened = True
        budget = None if deadline is None else max(deadline - asyncio.get_running_loop().time(), 0)
        with deadline_scope(budget):
            async with self.database.connection(autocommit=True) as conn:
                return await self.read(conn, keys)

    async def load(self, key: K) -> V | None:
        return await self.loader.load(key)

    async def close(self) -> None:
        await self.loader.close()
        if self.opened:
            self.opened = False
            await self.database.close()
