"""Base C in PostgreSQL: one row per CPF index (`base_c.activity`) and the timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from psycopg.types.json import Jsonb

from caudal.customers.base_c.projection import KINDS, Fact, latest, stored_fact
from caudal.events.erasure_barrier_postgres import Recorded
from caudal.platform.db.arrays import send_lists_in_binary
from caudal.platform.db.batched_reads import BatchedReads
from caudal.platform.db.pool import AsyncConn

# The timestamp arrays go in binary (`%b`): psycopg's text dump of a datetime list costs ~7 µs
# per element, its binary one ~0.35 µs (bench/base_c_record_cpu.py, bench/profiles/README.md).
INSERT_EVENTS = """
INSERT INTO base_c.events (event_id, cpf_index, type, occurred_at, data, received_at)
SELECT * FROM unnest(
    %s::text[], %s::bytea[], %s::text[], %b::timestamptz[], %s::jsonb[], %b::timestamptz[]
)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


def _upsert_sql() -> str:
    columns = ["cpf_index"]
    updates = []
    for kind in KINDS.values():
        c = kind.column
        columns += [c, f"{c}_at", f"{c}_id"]
        newer = (
            f"excluded.{c}_at IS NOT NULL AND (a.{c}_at IS NULL OR "
            f"(excluded.{c}_at, excluded.{c}_id) > (a.{c}_at, a.{c}_id))"
        )
        for suffix in ("", "_at", "_id"):
            updates.append(
                f"{c}{suffix} = CASE WHEN {newer} THEN excluded.{c}{suffix} ELSE a.{c}{suffix} END"
            )
    placeholders = ", ".join(["%s"] * len(columns))
    return (
        f"INSERT INTO base_c.activity AS a ({', '.join(columns)}) VALUES ({placeholders}) "
        f"ON CONFLICT (cpf_index) DO UPDATE SET {', '.join(updates)}, updated_at = now()"
    )


# Keep, per kind, the newer of the stored value and the incoming one by (time, event id).
UPSERT_ACTIVITY = _upsert_sql()


# The `/consultar` bodies as the projection rendered them (migration 0011: a trigger renders the
# body on every write of the row), for many CPFs in one statement (`/consultar`'s group reads,
# `consulta_reads`); the indexes travel as one binary bytea array. Stored text: nothing built by
# PostgreSQL or decoded and encoded in Python on the lookup path. A row projected before that
# migration has no body yet and is rendered by the same function, with the same bytes, in a
# second statement: written into this one (`coalesce(a.consulta, base_c.consulta_body(a))`),
# the fallback cost ~70 µs of PostgreSQL CPU per statement although it never ran
# (bench/profiles/README.md).
SELECT_CONSULTAS = (
    "SELECT a.cpf_index, a.consulta FROM base_c.activity a WHERE a.cpf_index = ANY(%s)"
)
RENDER_CONSULTAS = (
    "SELECT a.cpf_index, base_c.consulta_body(a) FROM base_c.activity a WHERE a.cpf_index = ANY(%s)"
)
SELECT_TIMELINE = """
SELECT event_id, type, occurred_at, data FROM base_c.events
 WHERE cpf_index = %s
 ORDER BY occurred_at DESC, event_id DESC
 LIMIT %s OFFSET %s
"""
COUNT_TIMELINE = "SELECT count(*) FROM base_c.events WHERE cpf_index = %s"
COUNT_RECENT = """
SELECT count(*) FROM base_c.events WHERE cpf_index = %s AND type = %s AND occurred_at >= %s
"""
INFINITY = datetime.max.replace(tzinfo=UTC)
# An erasure removes the events received before it (+ margin, as the barrier drops:
# `Recorded.until`; a row stored before migration 0012 knows no receipt time: written before the
# erasure was first handled), then projects the CPF's activity again from the events left: a
# customer registered again with the same CPF since, even before that handling, keeps theirs.
_ERASED = (
    "unnest(%(indexes)s::bytea[], %(until)s::timestamptz[], %(handled)s::timestamptz[])"
    " AS n(i, until, handled)"
)
DELETE_EVENTS = (
    f"DELETE FROM base_c.events e USING {_ERASED} WHERE e.cpf_index = n.i"
    " AND coalesce(e.received_at < n.until, e.stored_at < n.handled)"
)
DELETE_ACTIVITY = "DELETE FROM base_c.activity WHERE cpf_index = ANY(%(indexes)s::bytea[])"
SELECT_LEFT = (
    "SELECT event_id, cpf_index, type, occurred_at, data FROM base_c.events"
    " WHERE cpf_index = ANY(%(indexes)s::bytea[])"
)


class ActivityStore(Protocol):
    """What the sink needs from a Base C store (PostgreSQL here; fakes in unit tests)."""

    async def record(self, facts: Sequence[Fact]) -> list[Fact]:
        """Store the facts not seen before (by event id) and project them; return those."""
        ...

    async def erase(self, cpf_indexes: Sequence[bytes]) -> None: ...


class PostgresActivityStore:
    def __init__(self, conn: AsyncConn, recorded: Mapping[bytes, Recorded] | None = None) -> None:
        """`recorded`: each erasure of the batch as the barrier recorded it (its bounds)."""
        self.conn = conn
        self._recorded = recorded or {}

    async def record(self, facts: Sequence[Fact]) -> list[Fact]:
        if not facts:
            return []
        unique = {f.event_id: f for f in facts}
        cur = await self.conn.execute(
            INSERT_EVENTS,
            (
                list(unique),
                [f.cpf_index for f in unique.values()],
                [f.kind.event_type for f in unique.values()],
                [f.occurred_at for f in unique.values()],
                [Jsonb(f.data) for f in unique.values()],
                [f.received_at for f in unique.values()],
            ),
        )
        fresh = [unique[str(r[0])] for r in await cur.fetchall()]
        await project(self.conn, fresh)
        return fresh

    async def erase(self, cpf_indexes: Sequence[bytes]) -> None:
        if cpf_indexes:
            await erase(self.conn, {i: self._recorded.get(i) for i in cpf_indexes})


async def project(conn: AsyncConn, facts: Sequence[Fact]) -> None:
    """Fold the facts into their CPFs' activity rows (the newest per kind wins)."""
    rows: dict[bytes, dict[str, Fact]] = {}
    for (index, column), fact in latest(facts).items():
        rows.setdefault(index, {})[column] = fact
    params = []
    for index, by_column in sorted(rows.items()):
        values: list[Any] = [index]
        for kind in KINDS.values():
            found = by_column.get(kind.column)
            values += (
                [Jsonb(found.block), found.at, found.event_id] if found else [None, None, None]
            )
        params.append(tuple(values))
    if params:
        async with conn.cursor() as c:
            await c.executemany(UPSERT_ACTIVITY, params)


async def erase(conn: AsyncConn, erased: Mapping[bytes, Recorded | None]) -> None:
    """The events of these CPF indexes from before each one's erasure (its barrier record; None:
    all of them), then their activity projected again from the events left."""
    indexes = list(erased)
    params = {
        "indexes": indexes,
        "until": [r.until if r else INFINITY for r in erased.values()],
        "handled": [r.handled_at if r else INFINITY for r in erased.values()],
    }
    await conn.execute(DELETE_EVENTS, params)
    await conn.execute(DELETE_ACTIVITY, params)
    cur = await conn.execute(SELECT_LEFT, params)
    left = [
        stored_fact(str(i), bytes(c), str(t), o, dict(d)) for i, c, t, o, d in await cur.fetchall()
    ]
    await project(conn, [f for f in left if f is not None])


async def consultas(conn: AsyncConn, cpf_indexes: list[bytes]) -> dict[bytes, bytes]:
    """The `/consultar` bodies (UTF-8 JSON) of those of `cpf_indexes` with activity, by index.
    `conn` must send lists in binary (`send_lists_in_binary`)."""
    cur = await conn.execute(SELECT_CONSULTAS, (cpf_indexes,), prepare=True)
    found: dict[bytes, bytes] = {}
    unrendered: list[bytes] = []
    for index, body in await cur.fetchall():
        if body is None:
            unrendered.append(bytes(index))
        else:
            found[bytes(index)] = str(body).encode()
    if unrendered:  # rows not written since migration 0011; erased meanwhile: absent
        cur = await conn.execute(RENDER_CONSULTAS, (unrendered,))
        found.update((bytes(index), str(body).encode()) for index, body in await cur.fetchall())
    return found


CONSULTAR_READS = "caudal consultar"  # the reader's connections in pg_stat_activity


def consulta_reads(url: str, *, statement_timeout_ms: int = 30_000) -> BatchedReads[bytes, bytes]:
    """`/consultar`'s reads: the concurrent requests of a process share one statement
    (`platform/db/batched_reads`), on connections of their own opened by the first request,
    so a process that serves none (a worker) never opens them. `load(cpf_index)` answers the
    body, or None without activity."""
    return BatchedReads(
        url,
        consultas,
        statement_timeout_ms=statement_timeout_ms,
        configure=send_lists_in_binary,
        application_name=CONSULTAR_READS,
    )


async def timeline(
    conn: AsyncConn, cpf_index: bytes, limit: int, offset: int
) -> tuple[int, list[tuple[str, str, datetime, dict[str, Any]]]]:
    cur = await conn.execute(COUNT_TIMELINE, (cpf_index,))
    count_row = await cur.fetchone()
    total = int(str(count_row[0])) if count_row else 0
    cur = await conn.execute(SELECT_TIMELINE, (cpf_index, limit, offset))
    rows = await cur.fetchall()
    return total, [(str(r[0]), str(r[1]), r[2], dict(r[3])) for r in rows]


async def recent_count(conn: AsyncConn, cpf_index: bytes, event_type: str, since: datetime) -> int:
    cur = await conn.execute(COUNT_RECENT, (cpf_index, event_type, since))
    row = await cur.fetchone()
    return int(str(row[0])) if row else 0
