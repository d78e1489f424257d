"""The application's connection pool (psycopg 3, async), connected as the non-owner app role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from caudal.platform.db import migrations

AsyncConn = psycopg.AsyncConnection[TupleRow]


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached: callers answer 503 with Retry-After."""


class Database:
    def __init__(
        self,
        url: str,
        *,
        min_size: int = 2,
        max_size: int = 16,
        statement_timeout_ms: int = 30_000,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        self.pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=connect_timeout_s,
            kwargs={
                "options": f"-c statement_timeout={statement_timeout_ms}",
                "application_name": "caudal",
                "connect_timeout": int(max(connect_timeout_s, 1)),
            },
            name="caudal",
        )

    async def open(self) -> None:
        # wait=False: the API starts (and /readyz says why it is not ready) even if PG is down.
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConn]:
        try:
            async with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.errors.AdminShutdown) as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        except TimeoutError as exc:  # psycopg_pool.PoolTimeout subclasses it
            raise DatabaseUnavailable("no database connection available") from exc

    async def readiness(self) -> tuple[bool, str]:
        """(ready, reason): the database answers and every shipped migration is applied."""
        try:
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
