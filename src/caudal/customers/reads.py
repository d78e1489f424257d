"""Read-only connections for the hot read paths (Base C).

A pooled psycopg connection outside autocommit wraps a lone SELECT in BEGIN ... and the pool
rolls it back on return: extra round trips for nothing. A single-statement read in autocommit
is one round trip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from caudal.platform.db.pool import AsyncConn, Database


@asynccontextmanager
async def read_only(database: Database) -> AsyncIterator[AsyncConn]:
    async with database.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            await conn.set_autocommit(False)
