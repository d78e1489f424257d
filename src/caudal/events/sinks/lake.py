"""The `lake` sink: events buffered durably in PostgreSQL (`events.lake_buffer`, once per id),
flushed like Firehose by size or age into Parquet files through fsspec (`lake_files`).

Exactly-once into the lake: a redelivered event hits the buffer's primary key; a flush claims a
numbered batch (committed) before writing `part-<batch>.parquet`, so a flush interrupted by a
crash is redone under the same name, replacing a partial or complete earlier attempt.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from caudal.events.lake_files import LakeFiles
from caudal.events.model import CanonicalEvent
from caudal.events.queries import q
from caudal.events.sinks.rows import columns
from caudal.platform.db.pool import AsyncConn, Database
from caudal.platform.schedule import run_every
from caudal.platform.settings import LakeSettings

_log = structlog.get_logger("caudal.events.lake")
FLUSH_LOCK = 0x6C616B65  # "lake": one flusher at a time across every process


class LakeSink:
    name = "lake"
    batch_size = 2000  # records per delivery from the bus (one buffer insert each)

    def __init__(self, database: Database) -> None:
        self.database = database

    async def write(self, events: Sequence[CanonicalEvent]) -> None:
        if not events:
            return
        async with self.database.connection() as conn, conn.transaction():
            await conn.execute(q("lake_buffer_insert"), columns(events), binary=True)


@dataclass
class FlushResult:
    batches: int = 0
    rows: int = 0
    files: int = 0


class LakeFlusher:
    """Writes buffered events to the lake when enough are waiting or the oldest is old enough."""

    name = "lake-flusher"
    role = "worker"
    group: str | None = "lake"  # runs beside the `lake` group's workers (`worker --group lake`)

    def __init__(self, database: Database, files: LakeFiles, settings: LakeSettings) -> None:
        self.database = database
        self.files = files
        self.settings = settings

    async def run(self, stop: asyncio.Event) -> None:
        tick = min(1.0, self.settings.flush_max_seconds / 4)
        await run_every(tick, stop, self.flush, "lake_flush_failed")

    async def flush(self, force: bool = False) -> FlushResult:
        """Finish any interrupted batch, then flush while a size or age threshold is met (or
        everything, with `force`). Returns what was written; nothing if another process holds
        the flush lock."""
        result = FlushResult()
        async with self.database.connection() as conn:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (FLUSH_LOCK,))
            row = await cur.fetchone()
            await conn.commit()
            if not row or not row[0]:
                return result
            try:
                await self._flush_locked(conn, force, result)
            finally:
                await conn.rollback()
                await conn.execute("SELECT pg_advisory_unlock(%s)", (FLUSH_LOCK,))
                await conn.commit()
        return result

    async def finish_interrupted(self, conn: AsyncConn, result: FlushResult) -> None:
        """Redo every claimed batch a crash left unwritten (same name: no duplicate)."""
        while True:
            cur = await conn.execute(q("lake_unfinished_batch"))
            unfinished = await cur.fetchone()
            await conn.commit()
            if unfinished is None:
                return
            await self._write(conn, str(unfinished[0]), result)

    async def _flush_locked(self, conn: AsyncConn, force: bool, result: FlushResult) -> None:
        while True:
            await self.finish_interrupted(conn, result)
            cur = await conn.execute(q("lake_pending_stats"))
            stats = await cur.fetchone()
            await conn.commit()
            assert stats is not None
            count, oldest, now = stats
            if not count:
                return
            age = (now - oldest).total_seconds()
            if (
                not force
                and count < self.settings.flush_max_events
                and age < (self.settings.flush_max_seconds)
            ):
                return
            cur = await conn.execute("SELECT nextval('events.lake_batch_seq')")
            seq = await cur.fetchone()
            assert seq is not None
            batch = f"{int(seq[0]):010d}-{secrets.token_hex(4)}"
            await conn.execute(
                q("lake_claim"), {"batch": batch, "limit": self.settings.flush_max_events}
            )
            await conn.commit()  # the claim is durable before any file is written
            await self._write(conn, batch, result)

    async def _write(self, conn: AsyncConn, batch: str, result: FlushResult) -> None:
        cur = await conn.execute(q("lake_batch_rows"), {"batch": batch})
        rows = await cur.fetchall()
        await conn.commit()
        written = await asyncio.to_thread(self.files.write_batch, batch, rows)
        await conn.execute(q("lake_mark_flushed"), {"batch": batch})
        await conn.commit()
        result.batches += 1
        result.rows += len(rows)
        result.files += len(written)
        _log.info("lake_flushed", batch=batch, rows=len(rows), files=len(written))
