"""Running the ledger's batch statements, their arrays sent in binary (`platform.db.arrays`)."""

from __future__ import annotations

from typing import Any

from caudal.ledger.queries import q
from caudal.platform.db.arrays import execute_batch
from caudal.platform.db.pool import AsyncConn


async def run(conn: AsyncConn, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Execute the named query with array parameters sent in binary; return its rows (if any)."""
    cur = await execute_batch(conn, q(name), params)
    if cur.description is None:
        return []
    return [tuple(row) for row in await cur.fetchall()]
