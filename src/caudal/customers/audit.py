"""The append-only audit log of every access to Base A (schema `audit`). Facts, never PII."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from caudal.platform.db.pool import AsyncConn

INSERT_ONE = """
INSERT INTO audit.log (subject, action, customer_id, trace_key, detail)
VALUES (%s, %s, %s, %s, %s)
"""

INSERT_MANY = """
INSERT INTO audit.log (subject, action, customer_id, trace_key, detail)
SELECT %s, %s, c, %s, %s FROM unnest(%s::uuid[]) AS c
"""

SELECT_PAGE = """
SELECT id, at, subject, action, customer_id, trace_key, detail, count(*) OVER () AS total
  FROM audit.log
 WHERE (%(customer)s::uuid IS NULL OR customer_id = %(customer)s::uuid)
   AND (%(subject)s::text IS NULL OR subject = %(subject)s::text)
   AND (%(action)s::text IS NULL OR action = %(action)s::text)
 ORDER BY id DESC
 LIMIT %(limit)s OFFSET %(offset)s
"""


@dataclass(frozen=True)
class Actor:
    """Who is acting, for the audit row: the token subject and the request's trace key."""

    subject: str
    trace_key: str | None


async def record(
    conn: AsyncConn,
    actor: Actor,
    action: str,
    customer_id: str | None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        INSERT_ONE, (actor.subject, action, customer_id, actor.trace_key, Jsonb(detail or {}))
    )


async def record_many(
    conn: AsyncConn,
    actor: Actor,
    action: str,
    customer_ids: Sequence[str],
    detail: dict[str, Any] | None = None,
) -> None:
    if not customer_ids:
        return
    await conn.execute(
        INSERT_MANY,
        (actor.subject, action, actor.trace_key, Jsonb(detail or {}), list(customer_ids)),
    )


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    subject: str
    action: str
    customer_id: str | None
    trace_key: str | None
    detail: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "subject": self.subject,
            "action": self.action,
            "customer_id": self.customer_id,
            "trace_key": self.trace_key,
            "detail": self.detail,
        }


async def page(
    conn: AsyncConn,
    *,
    customer_id: str | None,
    subject: str | None,
    action: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[AuditRow]]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        SELECT_PAGE,
        {
            "customer": customer_id,
            "subject": subject,
            "action": action,
            "limit": limit,
            "offset": offset,
        },
    )
    rows = await cur.fetchall()
    total = int(rows[0]["total"]) if rows else 0
    found = [
        AuditRow(
            id=r["id"],
            at=r["at"],
            subject=r["subject"],
            action=r["action"],
            customer_id=str(r["customer_id"]) if r["customer_id"] is not None else None,
            trace_key=r["trace_key"],
            detail=dict(r["detail"]),
        )
        for r in rows
    ]
    return total, found
