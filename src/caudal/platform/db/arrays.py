"""Python lists sent as binary PostgreSQL arrays: psycopg's text arrays escape every element in
Python, which dominates batch statements (the bus's payloads, the ledger's postings)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.abc import AdaptContext
from psycopg.rows import AsyncRowFactory, Row, tuple_row
from psycopg.types.array import ListBinaryDumper


def send_lists_in_binary(context: AdaptContext) -> None:
    """On this connection or cursor only: other users keep the adapters they configured."""
    context.adapters.register_dumper(list, ListBinaryDumper)


async def execute_batch(
    conn: psycopg.AsyncConnection[Any],
    query: str,
    params: dict[str, Any],
    row: AsyncRowFactory[Row] = tuple_row,  # type: ignore[assignment]
) -> psycopg.AsyncCursor[Row]:
    """Run `query` on a cursor of its own whose list parameters travel in binary."""
    cur = conn.cursor(row_factory=row)
    send_lists_in_binary(cur)
    await cur.execute(query, params)
    return cur
