"""Erasure in the lake: every Parquet file holding one of a customer's tokens is rewritten
without those rows (same name, atomic replace through `LakeFiles.write_table`).

Rewriting rather than per-customer keyed tokens: tokens stay the CPF's blind index, so Base C,
partitioning and joins by CPF keep working, and an erased customer leaves no row at all. The
cost is a scan of the lake's `data` column per erasure (footers and one column, not whole
files); erasures are rare. The scan runs under the lake writers' lock, taken exclusively
(`writers_held`) after the erasure's database commit: a delivery writing meanwhile finishes
first (its file is scanned), and every later one sees the erasure (`erasure_barrier.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from caudal.events.lake_files import LakeFiles
from caudal.events.sinks.lake import LAKE_LOCK
from caudal.platform.db.pool import AsyncConn


@asynccontextmanager
async def writers_held(conn: AsyncConn) -> AsyncIterator[None]:
    """The lake writers' lock, alone, for the session (no transaction stays open meanwhile)."""
    await conn.execute("SELECT pg_advisory_lock(%s)", (LAKE_LOCK,))
    if not conn.autocommit:
        await conn.commit()
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (LAKE_LOCK,))
        if not conn.autocommit:
            await conn.commit()


def _holding(data: pa.ChunkedArray, tokens: Sequence[str]) -> pa.ChunkedArray:
    mask = pc.match_substring(data, tokens[0])
    for token in tokens[1:]:
        mask = pc.or_(mask, pc.match_substring(data, token))
    return pc.fill_null(mask, False)


def erase_tokens(files: LakeFiles, tokens: Sequence[str]) -> tuple[int, int]:
    """Rewrite the files holding a token; (rows removed, files rewritten)."""
    if not tokens:
        return 0, 0
    removed = rewritten = 0
    for directory, paths in files.parts().items():
        for path in paths:
            with files.fs.open(path, "rb") as handle:
                data = pq.read_table(handle, columns=["data"]).column("data")
            hits = _holding(data, tokens)
            count = pc.sum(hits).as_py() or 0
            if not count:
                continue
            table = files.read([path])
            kept = table.filter(pc.invert(_holding(table.column("data"), tokens)))
            name = path.rpartition("/")[2]
            if kept.num_rows:
                files.write_table(directory, name, kept)
            else:
                files.remove([path])
            removed += int(count)
            rewritten += 1
    return removed, rewritten
