"""Read-only connections for the hot read paths (Base C).

A pooled psycopg connection outside autocommit wraps a lone SELECT in BEGIN ... and the pool
rolls it back on return: extra round trips for nothing. A single-statement read in autocommit
is one round trip.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from caudal.platform.db.pool import AsyncConn, Database


def read_only(database: Database) -> AbstractAsyncContextManager[AsyncConn]:
    """A connection in autocommit for one statement (the pool's own, not one more layer)."""
    return database.connection(autocommit=True)
