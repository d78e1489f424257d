"""Running the ledger's batch statements, their arrays sent in binary (`platform.db.arrays`)."""

from __future__ import annotations

from typing import Any, TypeVar

from psycopg.rows import AsyncRowFactory

from caudal.ledger.queries import q
from caudal.platform.db.arrays import execute_batch
from caudal.platform.db.pool import AsyncConn

R = TypeVar("R")


async def run(conn: AsyncConn, name: str, params: dict[str, Any]) -> None:
    """Execute the named query with array parameters sent in binary."""
    await execute_batch(conn, q(name), params)


async def fetch(
    conn: AsyncConn, name: str, params: dict[str, Any], row: AsyncRowFactory[R]
) -> list[R]:
    """Execute the named query like `run`; return its rows made by `row` (docs/architecture.md)."""
    cur = await execute_batch(conn, q(name), params, row)
    return await cur.fetchall()
