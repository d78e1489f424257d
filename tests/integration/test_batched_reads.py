"""`platform/db/batched_reads` on a real PostgreSQL: the reader's pool keeps its connections in
autocommit between reads; a read past its callers' deadline answers `DatabaseUnavailable` in
time and its connection is closed, never reused; the next read is served."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping

import pytest

from caudal.platform.db.batched_reads import BatchedReads
from caudal.platform.db.pool import AsyncConn, DatabaseUnavailable, deadline_scope

USED: list[AsyncConn] = []  # the connections `slow_squares` ran on, in order


async def slow_squares(conn: AsyncConn, keys: list[int]) -> Mapping[int, int]:
    """Each key's square; a negative key makes the statement sleep 5 s first."""
    USED.append(conn)
    cur = await conn.execute(
        "SELECT k, k * k, pg_sleep(CASE WHEN k < 0 THEN 5 ELSE 0 END) FROM unnest(%s::int[]) AS k",
        (keys,),
    )
    return {int(k): int(square) for k, square, _ in await cur.fetchall()}


@pytest.fixture
async def reads(database_url: str) -> AsyncIterator[BatchedReads[int, int]]:
    USED.clear()
    reader: BatchedReads[int, int] = BatchedReads(database_url, slow_squares)
    try:
        yield reader
    finally:
        await reader.close()


async def test_reads_share_an_autocommit_connection_kept_between_batches(
    reads: BatchedReads[int, int],
) -> None:
    assert await asyncio.gather(*(reads.load(k) for k in range(10))) == [k * k for k in range(10)]
    conn = USED[0]
    assert conn.autocommit and set(USED) == {conn}
    assert await reads.load(7) == 49
    assert USED[-1] is conn and conn.autocommit
    await reads.close()
    assert conn.closed


async def test_a_read_past_the_deadline_is_unavailable_in_time_and_its_connection_closed(
    reads: BatchedReads[int, int],
) -> None:
    assert await reads.load(2) == 4  # connected
    first = USED[0]
    started = time.monotonic()
    with deadline_scope(0.3), pytest.raises(DatabaseUnavailable):
        await reads.load(-1)
    assert time.monotonic() - started < 1.5
    assert USED[-1] is first and first.closed
    assert await reads.load(3) == 9
    assert USED[-1] is not first  # a new connection, never the interrupted one
