"""`caudal lake compact`: per partition, merge small files into deduplicated ones, holding
the lake writers' lock alone (so no delivery rewrites a file while it is being merged). A merge
runs in a thread that a cancellation (Ctrl-C) cannot stop: the lock is released only once it
has ended, as a lake delivery and an erasure's rewrite do."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from caudal.events.lake_files import LakeFiles, compact_partition
from caudal.events.sinks.lake import LAKE_LOCK
from caudal.platform.bootstrap import Container
from caudal.platform.errors import CaudalError


@dataclass
class CompactReport:
    partitions: int = 0
    files_before: int = 0
    files_after: int = 0
    rows_before: int = 0
    rows_after: int = 0


async def compact(container: Container, files: LakeFiles, day: str | None) -> CompactReport:
    report = CompactReport()
    async with container.database.connection() as conn:
        for _ in range(60):
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (LAKE_LOCK,))
            row = await cur.fetchone()
            await conn.commit()
            if row and row[0]:
                break
            await asyncio.sleep(0.5)
        else:
            raise CaudalError(
                code="CAU-LAKE-BUSY",
                detail="lake writers have held the lock for 30 s; try again",
                status=409,
                title="Busy",
            )
        try:
            for directory, paths in (await asyncio.to_thread(files.parts, day)).items():
                if len(paths) < 2:
                    continue
                merging = asyncio.ensure_future(
                    asyncio.to_thread(compact_partition, files, directory, paths)
                )
                try:
                    done = await asyncio.shield(merging)
                finally:  # cancelled or not: the files are merged before the lock is released
                    await asyncio.wait({merging})
                if done is None:
                    continue
                report.partitions += 1
                report.files_before += done[0]
                report.files_after += done[1]
                report.rows_before += done[2]
                report.rows_after += done[3]
        finally:
            await conn.rollback()
            await conn.execute("SELECT pg_advisory_unlock(%s)", (LAKE_LOCK,))
            await conn.commit()
    return report
