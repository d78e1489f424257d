"""Keyset pages over (received_at, id), newest first, with opaque cursors."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from caudal.platform.db.pool import Database
from caudal.platform.errors import validation_error


def encode(at: datetime, id_: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{id_}".encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, id_ = raw.split("|", 1)
        return datetime.fromisoformat(at), id_
    except (ValueError, UnicodeDecodeError):
        raise validation_error(
            "cursor", "CAU-EVT-CURSOR", "cursor is not one this API returned"
        ) from None


async def newest_first(
    database: Database,
    relation: str,
    columns: str,
    where: tuple[list[sql.Composable], list[Any]],
    limit: int,
    cursor: str | None,
    id_type: str = "text",
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `relation` (rows by column name) matching every clause of `where`, after
    `cursor`; and the cursor of the next page (None on the last)."""
    clauses, params = list(where[0]), list(where[1])
    if cursor:
        at, id_ = decode(cursor)
        clauses.append(sql.SQL("(received_at, id) < (%s, %s::{})").format(sql.SQL(id_type)))
        params += [at, id_]
    query = sql.SQL("SELECT {} FROM {} {} ORDER BY received_at DESC, id DESC LIMIT %s").format(
        sql.SQL(columns),
        sql.SQL(relation),
        sql.SQL("WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL(""),
    )
    async with database.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(query, [*params, limit + 1])
        rows = await cur.fetchall()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode(last["received_at"], str(last["id"]))
