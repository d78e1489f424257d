"""Running the ledger's batch statements: arrays travel in binary (psycopg's text arrays escape
every element in Python), on the statement's own cursor only."""

from __future__ import annotations

from typing import Any

from psycopg.types.array import ListBinaryDumper

from caudal.ledger.queries import q
from caudal.platform.db.pool import AsyncConn


async def run(conn: AsyncConn, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Execute the named query with array parameters sent in binary; return its rows (if any)."""
    cur = conn.cursor()
    cur.adapters.register_dumper(list, ListBinaryDumper)
    await cur.execute(q(name), params)
    if cur.description is None:
        return []
    return [tuple(row) for row in await cur.fetchall()]
