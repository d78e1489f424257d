"""Typed rows: a query's result read by column name, never by position.

The convention (docs/architecture.md): a row that code reads field by field is a dataclass
filled by `class_row` (the SQL names its columns after the fields, with `AS` where needed); a row
passed on as JSON is a `dict_row`; a query of one value reads it with `scalar_row`. These helpers
run a statement with such a factory, so call sites stay one line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.rows import AsyncRowFactory, scalar_row

R = TypeVar("R")
Params = Mapping[str, Any] | Sequence[Any] | None


async def fetch_all(
    conn: psycopg.AsyncConnection[Any], query: str, params: Params, row: AsyncRowFactory[R]
) -> list[R]:
    cur = conn.cursor(row_factory=row)
    await cur.execute(query, params)
    return await cur.fetchall()


async def fetch_one(
    conn: psycopg.AsyncConnection[Any], query: str, params: Params, row: AsyncRowFactory[R]
) -> R | None:
    cur = conn.cursor(row_factory=row)
    await cur.execute(query, params)
    return await cur.fetchone()


async def fetch_value(conn: psycopg.AsyncConnection[Any], query: str, params: Params) -> Any:
    """The first column of the first row (None when there is no row)."""
    return await fetch_one(conn, query, params, scalar_row)
