"""The erasure barrier's PostgreSQL adapter (`erasure_barrier.py` says why and how): the
writers' gate (`events.erased_since`, migration 0005) and the erasure's side of the lock."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from caudal.events.erasure_barrier import MARGIN, Erased
from caudal.platform.db.pool import AsyncConn

MANY = "many"  # what `events.erased_since` answers beyond 256 tokens (migration 0007)
LOCK = 0x65726173  # "eras": writers share it in their transaction, `record` takes it alone

# An erasure's own time, never the handling's: a notice handled again moves nothing back.
RECORD = """
INSERT INTO events.erased_tokens AS e (token, at, handled_at)
SELECT t, a, clock_timestamp() FROM unnest(%(tokens)s::text[], %(ats)s::timestamptz[]) AS n(t, a)
ON CONFLICT (token) DO UPDATE SET at = excluded.at, handled_at = excluded.handled_at
 WHERE e.at < excluded.at
"""
RECORDED = """
SELECT token, at, handled_at FROM events.erased_tokens WHERE token = ANY(%(tokens)s::text[])
"""


@dataclass(frozen=True)
class Recorded:
    """A token's latest erasure: when it happened, and when it was first handled."""

    at: datetime
    handled_at: datetime

    @property
    def until(self) -> datetime:
        """The receipt time before which the token's copies go: the erasure's time + MARGIN,
        exactly what the barrier drops (`erasure_barrier.erased_before`), so every copy the
        barrier would refuse is deleted and every copy it lets through (a customer registered
        again with the same CPF since, even before this erasure was first handled) stays."""
        return self.at + MARGIN


def bounds(recorded: Mapping[str, Recorded]) -> dict[str, Any]:
    """The erasure deletes' parameters: each token, the receipt time before which its copies go
    (`Recorded.until`), and, for a copy whose receipt time is unknown (a row stored by an older
    release, a bus payload that is no canonical event), the write time before which it goes
    (the first handling: any written after passed the barrier)."""
    tokens = sorted(recorded)
    return {
        "tokens": tokens,
        "until": [recorded[t].until for t in tokens],
        "handled": [recorded[t].handled_at for t in tokens],
    }


def until(recorded: Mapping[str, Recorded]) -> dict[str, datetime]:
    """Each token, the receipt time before which its copies go (the lake's rows)."""
    return {token: r.until for token, r in recorded.items()}


def erased_of(gate: dict[str, str] | None) -> Erased:
    """What `events.erased_since` returned with `among` (a JSON object, or NULL)."""
    if not gate:
        return {}
    return {token: datetime.fromisoformat(at) for token, at in gate.items()}


class PostgresErasedTokens:
    async def since(
        self, conn: AsyncConn, since: datetime, among: Callable[[], Collection[str]]
    ) -> Erased:
        gate = await _gate(conn, since, None)
        if gate == MANY:  # a mass erasure: this batch's candidates only, by primary key
            gate = await _gate(conn, since, sorted(among()))
        return erased_of(gate)


async def _gate(conn: AsyncConn, since: datetime, among: list[str] | None) -> Any:
    cur = await conn.execute("SELECT events.erased_since(%s, %s::text[])", (since, among))
    row = await cur.fetchone()
    return row[0] if row is not None else None


async def record(conn: AsyncConn, erasures: Mapping[str, datetime]) -> dict[str, Recorded]:
    """The erasure's first step, in a short transaction of its own (call it outside any): wait
    for the sink writes in flight to commit (the deletes that follow, in later snapshots, see
    them), record each token at its erasure's time (a later one kept), commit (every later write
    sees them). Writers wait only for this, never for the deletes' scans. Returns what each token
    holds now, which bounds the deletes (`bounds`)."""
    if not erasures:
        return {}
    tokens = sorted(erasures)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK,))
        await conn.execute(RECORD, {"tokens": tokens, "ats": [erasures[t] for t in tokens]})
        cur = await conn.execute(RECORDED, {"tokens": tokens})
        return {token: Recorded(at, handled) for token, at, handled in await cur.fetchall()}
