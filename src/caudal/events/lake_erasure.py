"""Erasure in the lake: every Parquet file holding one of a customer's tokens is rewritten
without those rows (same name, atomic replace through `LakeFiles.write_table`).

Rewriting rather than per-customer keyed tokens: tokens stay the CPF's blind index, so Base C,
partitioning and joins by CPF keep working, and an erased customer leaves no row at all. The
cost is a scan of the lake's `data` column per erasure (footers and one column, not whole
files); erasures are rare. After the erasure's database commit (`erase`), holding the lake
writers' lock shared (no compaction meanwhile; deliveries go on, however long the scan): each
bus partition's writer lock in turn, taken and released, so every delivery that checked the
erasure barrier before the record has written its files (every later one sees it:
`erasure_barrier.py`); then the scan; each file found is read again and rewritten under its
bus partition's writer lock, the one a delivery merging into that partition's files holds, so
neither write is lost. Nothing waits for the scan but a compaction.

Only the rows received before each token's erasure (+ margin: `erasure_barrier_postgres.bounds`)
go, so an erasure handled again spares a customer registered again since with the same CPF; a
file of an older release without `received_at` loses every row holding the token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from caudal.events import lake_spans
from caudal.events.lake_files import LakeFiles
from caudal.events.sinks.lake import LAKE_LOCK
from caudal.platform.db.pool import AsyncConn

_TIME = pa.timestamp("us", tz="UTC")


def _holding(table: pa.Table, erased: Mapping[str, datetime]) -> pa.ChunkedArray:
    """Rows holding a token and received before its erasure's bound (token -> bound)."""
    data = table.column("data")
    received = table.column("received_at") if "received_at" in table.column_names else None
    mask: pa.ChunkedArray | None = None
    for token, until in erased.items():
        hit = pc.match_substring(data, token)
        if received is not None:
            hit = pc.and_(hit, pc.less(received, pa.scalar(until, _TIME)))
        mask = hit if mask is None else pc.or_(mask, hit)
    return pc.fill_null(mask, False)


def holding_files(files: LakeFiles, erased: Mapping[str, datetime]) -> list[tuple[str, str]]:
    """(directory, path) of each file holding a token, from its `data` and `received_at`
    columns alone."""
    found = []
    for directory, paths in files.parts().items():
        for path in paths:
            with files.fs.open(path, "rb") as handle:
                parquet = pq.ParquetFile(handle)
                names = parquet.schema_arrow.names
                table = parquet.read(columns=[c for c in ("data", "received_at") if c in names])
            if pc.any(_holding(table, erased)).as_py():
                found.append((directory, path))
    return found


def rewrite(files: LakeFiles, directory: str, path: str, erased: Mapping[str, datetime]) -> int:
    """The file without the rows holding a token (read again: a delivery may have merged into
    it since it was found, or another erasure removed it); the rows removed."""
    if not files.fs.exists(path):
        return 0
    table = files.read([path])
    hits = _holding(table, erased)
    removed = int(pc.sum(hits).as_py() or 0)
    if not removed:
        return 0
    kept = table.filter(pc.invert(hits))
    if kept.num_rows:
        files.write_table(directory, path.rpartition("/")[2], kept)
    else:
        files.remove([path])
    return removed


async def erase(
    conn: AsyncConn, files: LakeFiles, erased: Mapping[str, datetime], partitions: int
) -> tuple[int, int]:
    """(rows removed, files rewritten), after the erasure's database commit, on a connection
    outside any transaction (session locks: no transaction stays open). `erased`: each token,
    the receipt time before which its rows go. `partitions`: the bus partitions, whose writer
    locks the lake deliveries hold across their check and writes."""
    if not erased:
        return 0, 0
    await _locking(conn, "SELECT pg_advisory_lock_shared(%s)", (LAKE_LOCK,))  # no compaction
    removed = rewritten = 0
    try:
        for p in range(partitions):  # each delivery that checked before the record has written
            await _locking(conn, "SELECT pg_advisory_lock(%s, %s)", (LAKE_LOCK, p))
            await _locking(conn, "SELECT pg_advisory_unlock(%s, %s)", (LAKE_LOCK, p))
        for directory, path in await asyncio.to_thread(holding_files, files, erased):
            span = lake_spans.parse(path.rpartition("/")[2])
            # An older release's name (no span): no delivery writes it, but two erasures may.
            lock = (LAKE_LOCK, -1 if span is None else span.partition)
            await _locking(conn, "SELECT pg_advisory_lock(%s, %s)", lock)
            try:
                writing = asyncio.ensure_future(
                    asyncio.to_thread(rewrite, files, directory, path, erased)
                )
                try:
                    count = await asyncio.shield(writing)
                finally:  # cancelled or not: the file is written before its lock is released
                    await asyncio.wait({writing})
            finally:
                await _locking(conn, "SELECT pg_advisory_unlock(%s, %s)", lock)
            removed += count
            rewritten += 1 if count else 0
    finally:
        await _locking(conn, "SELECT pg_advisory_unlock_shared(%s)", (LAKE_LOCK,))
    return removed, rewritten


async def _locking(conn: AsyncConn, sql: str, params: tuple[int, ...]) -> None:
    await conn.execute(sql, params)
    if not conn.autocommit:
        await conn.commit()
