"""The application's connection pool (psycopg 3, async), connected as the non-owner app role.

A request's database work has a deadline (`deadline_scope`, set per request by the HTTP
middleware): the wait for a pooled connection and everything done on it are bounded, so a
database that stops answering (a frozen server, a network partition that drops nothing) gives
`DatabaseUnavailable` (503 + Retry-After) within the deadline instead of a request that hangs.
`statement_timeout` cannot do it alone: a frozen server enforces nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from caudal.platform.db import migrations

AsyncConn = psycopg.AsyncConnection[TupleRow]


# psycopg answers an interrupted query by asking the server to cancel it and waiting up to 10 s
# for the answer; interrupted again, it closes the connection at once. We interrupt this often.
_INTERRUPT_EVERY_S = 0.05
READINESS_DEADLINE_S = 0.8  # /readyz answers within a second either way

_budget: ContextVar[float | None] = ContextVar("caudal_database_deadline", default=None)


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached: callers answer 503 with Retry-After."""


class deadline_scope:
    """Each use of a database connection in this context (pool wait included) ends within
    `seconds` or raises DatabaseUnavailable. None: no deadline (workers, migrations).

    A class rather than a `@contextmanager` generator: every HTTP request enters one, and the
    generator's creation, `next` and `StopIteration` cost ~2 µs more a request."""

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float | None) -> None:
        self._seconds = seconds

    def __enter__(self) -> None:
        self._token = _budget.set(self._seconds)

    def __exit__(self, *exc: object) -> None:
        _budget.reset(self._token)


def scope_deadline(loop: asyncio.AbstractEventLoop) -> float | None:
    """When (`loop` time) the current `deadline_scope` ends; None without a deadline. For work
    done on a caller's behalf in another task (`batched_reads`), which the scope does not
    reach."""
    budget = _budget.get()
    return None if budget is None else loop.time() + budget


async def _leave_autocommit(conn: AsyncConn) -> None:
    """Back in transaction mode before the pool sees it; a connection that cannot go back
    (still mid-statement: interrupted) is closed, so the pool never hands out one in
    autocommit."""
    if conn.info.transaction_status == TransactionStatus.IDLE:
        await conn.set_autocommit(False)
    else:
        await conn.close()


class _Interrupter:
    """Cancels `task` at `deadline` (loop time), then again every `_INTERRUPT_EVERY_S` until
    released; `count` says how often it did.

    Released, it holds no timer: a pending timer holds the callback that holds the interrupter,
    a reference cycle that reference counting cannot free. One such cycle per request (a
    closure that scheduled itself, before) left ~12 objects per request to the garbage
    collector, whose young collections then took tens of ms in the API processes
    (bench/profiles/README.md)."""

    def __init__(self, task: asyncio.Task[Any], deadline: float) -> None:
        self.task = task
        self.count = 0
        self.loop = task.get_loop()
        self.timer: asyncio.TimerHandle | None = self.loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self.count += 1
        self.task.cancel()
        self.timer = self.loop.call_later(_INTERRUPT_EVERY_S, self._fire)

    def release(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Database:
    def __init__(
        self,
        url: str,
        *,
        min_size: int = 2,
        max_size: int = 16,
        statement_timeout_ms: int = 30_000,
        connect_timeout_s: float = 5.0,
        autocommit: bool = False,
        configure: Callable[[AsyncConn], None] | None = None,
        application_name: str = "caudal",
    ) -> None:
        """`autocommit`: every connection stays in autocommit (a pool of lone reads: no switch
        per checkout); `configure` runs on each new connection (e.g. `send_lists_in_binary`)."""
        self.url = url
        self.autocommit = autocommit

        async def configured(conn: AsyncConn) -> None:
            if configure is not None:
                configure(conn)

        self.pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=connect_timeout_s,
            kwargs={
                # No bind parameter (a payload, a CPF) in the server's log with an error, even
                # where postgresql.conf asks for them: a statement that fails by design (the
                # realtime sink's redelivered batch) logs only its text, with placeholders.
                "options": f"-c statement_timeout={statement_timeout_ms}"
                " -c log_parameter_max_length_on_error=0",
                "application_name": application_name,
                "connect_timeout": int(max(connect_timeout_s, 1)),
                "autocommit": autocommit,
            },
            configure=configured if configure is not None else None,
            name=application_name,
        )

    async def open(self) -> None:
        # wait=False: the API starts (and /readyz says why it is not ready) even if PG is down.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    def connection(self, *, autocommit: bool = False) -> AbstractAsyncContextManager[AsyncConn]:
        """A pooled connection, bounded by the deadline of the `deadline_scope` it is used in.

        With `autocommit` a lone statement is one round trip (no BEGIN before it, no COMMIT
        after): for single-statement reads. The connection goes back to the pool in
        transaction mode, or closed if it cannot be (interrupted mid-statement).

        A plain method returning the context manager (not one more generator-based layer
        around `_bounded`): each layer costs a few µs on every request (bench/profiles)."""
        if self.autocommit and not autocommit:
            raise ValueError("this pool's connections are all in autocommit: no transactions")
        switch = autocommit and not self.autocommit
        budget = _budget.get()
        if budget is not None:
            return self._bounded(budget, switch)
        return self._unbounded(switch)

    @asynccontextmanager
    async def _unbounded(self, switch: bool) -> AsyncIterator[AsyncConn]:
        try:
            async with self.pool.connection() as conn:
                if not switch:
                    yield conn
                    return
                await conn.set_autocommit(True)
                try:
                    yield conn
                finally:
                    await _leave_autocommit(conn)
        except (psycopg.OperationalError, psycopg.errors.AdminShutdown) as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        except TimeoutError as exc:  # psycopg_pool.PoolTimeout subclasses it
            raise DatabaseUnavailable("no database connection available") from exc

    @asynccontextmanager
    async def _bounded(self, budget: float, switch: bool) -> AsyncIterator[AsyncConn]:
        """A connection whose use is interrupted at the deadline; a connection interrupted
        mid-query is closed (its state is unknown), never handed to the next request."""
        task = asyncio.current_task()
        assert task is not None
        started = task.get_loop().time()
        try:
            conn = await self.pool.getconn(timeout=budget)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        except TimeoutError as exc:  # PoolTimeout: no connection within the budget
            raise DatabaseUnavailable(
                f"no database connection within the deadline of {budget:g}s"
            ) from exc
        interrupter = _Interrupter(task, started + budget)
        try:
            async with conn:  # as the pool's own context: commit on success, else roll back
                if not switch:
                    yield conn
                    return
                await conn.set_autocommit(True)
                try:
                    yield conn
                finally:
                    await _leave_autocommit(conn)
        except asyncio.CancelledError:
            if not interrupter.count:
                raise
            raise DatabaseUnavailable(
                f"the database did not answer within the deadline of {budget:g}s"
            ) from None
        except (psycopg.OperationalError, psycopg.errors.AdminShutdown) as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        finally:
            interrupter.release()
            for _ in range(interrupter.count):
                task.uncancel()  # our cancellations, not the caller's
            if interrupter.count:
                await conn.close()  # interrupted mid-use: its state is unknown
            await self.pool.putconn(conn)

    async def readiness(self) -> tuple[bool, str]:
        """(ready, reason): the database answers and every shipped migration is applied."""
        try:
            with deadline_scope(READINESS_DEADLINE_S):
                async with self.connection() as conn:
                    cur = await conn.execute("SELECT domain, version FROM meta.schema_migrations")
                    rows = await cur.fetchall()
        except DatabaseUnavailable:
            return False, "database unreachable"
        except psycopg.Error:
            return False, "migrations not applied; run `caudal migrate`"
        pending = migrations.pending_keys({(str(d), int(str(v))) for d, v in rows})
        if pending:
            names = ", ".join(f"{d}/{v:04d}" for d, v in pending)
            return False, f"pending migrations: {names}; run `caudal migrate`"
        return True, "ok"
