"""Base B in PostgreSQL: income sources and assets per customer (no name, no CPF)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from caudal.platform.db.pool import AsyncConn
from caudal.platform.db.rows import fetch_one

UPSERT = """
INSERT INTO base_b.score_data (customer_id, fontes_de_renda, bens)
VALUES (%s, %s, %s)
ON CONFLICT (customer_id) DO UPDATE
   SET fontes_de_renda = excluded.fontes_de_renda, bens = excluded.bens, updated_at = now()
"""
SELECT = "SELECT fontes_de_renda, bens FROM base_b.score_data WHERE customer_id = %s"
DELETE = "DELETE FROM base_b.score_data WHERE customer_id = ANY(%s::uuid[])"


async def save(
    conn: AsyncConn, customer_id: str, fontes: list[dict[str, Any]], bens: list[dict[str, Any]]
) -> None:
    await conn.execute(UPSERT, (customer_id, Jsonb(fontes), Jsonb(bens)))


async def load(
    conn: AsyncConn, customer_id: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
    row = await fetch_one(conn, SELECT, (customer_id,), dict_row)
    if row is None:
        return None
    return list(row["fontes_de_renda"]), list(row["bens"])


async def erase(conn: AsyncConn, customer_ids: Sequence[str]) -> None:
    if customer_ids:
        await conn.execute(DELETE, (list(customer_ids),))
