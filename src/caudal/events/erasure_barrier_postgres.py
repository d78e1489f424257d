"""The erasure barrier's PostgreSQL adapter (`erasure_barrier.py` says why and how): the
writers' gate (`events.erased_since`, migration 0005) and the erasure's side of the lock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from caudal.events.erasure_barrier import Erased
from caudal.platform.db.pool import AsyncConn

LOCK = 0x65726173  # "eras": writers share it in their transaction, `record` takes it alone

RECORD = """
INSERT INTO events.erased_tokens (token, at)
SELECT t, clock_timestamp() FROM unnest(%(tokens)s::text[]) AS t
ON CONFLICT (token) DO UPDATE SET at = excluded.at
"""


def erased_of(gate: dict[str, str] | None) -> Erased:
    """What `events.erased_since` returned (a JSON object, or NULL)."""
    if not gate:
        return {}
    return {token: datetime.fromisoformat(at) for token, at in gate.items()}


class PostgresErasedTokens:
    async def since(self, conn: AsyncConn, since: datetime) -> Erased:
        cur = await conn.execute("SELECT events.erased_since(%s)", (since,))
        row = await cur.fetchone()
        return erased_of(row[0] if row is not None else None)


async def record(conn: AsyncConn, tokens: Sequence[str]) -> None:
    """The erasure's first step, in a short transaction of its own (call it outside any): wait
    for the sink writes in flight to commit (the deletes that follow, in later snapshots, see
    them), record the tokens, commit (every later write sees them). Writers wait only for this,
    never for the deletes' scans."""
    if not tokens:
        return
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        await conn.execute(RECORD, {"tokens": list(tokens)})
