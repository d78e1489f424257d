"""Runs the pipeline once per request, recording it in `pipelines.runs`.

Two processes never run the same pipeline and date at once: a run holds a PostgreSQL advisory
lock on (pipeline, date) for its whole duration, on a connection of its own (a crashed process
releases it), and a unique index admits one `running` row per date. The scheduler also runs a
date at most once: a unique index admits one scheduled run per date (abandoned ones aside).
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
import structlog

from caudal.pipelines import runs
from caudal.pipelines.model import (
    PipelineError,
    Progress,
    RunRequest,
    no_progress,
    run_in_progress,
)
from caudal.pipelines.runs import RunRecord
from caudal.platform.db.rows import fetch_value
from caudal.platform.errors import unavailable
from caudal.platform.settings import Settings

if TYPE_CHECKING:
    from caudal.pipelines.pipeline import UserCartsPipeline

_log = structlog.get_logger("caudal.pipelines.runner")

Builder = Callable[[Settings, str, RunRequest], "UserCartsPipeline"]


def build(settings: Settings, app_url: str, request: RunRequest) -> UserCartsPipeline:
    """The pipeline of one run. Its module (DuckDB, pyarrow, the FakeStore client: ~0.1 s) is
    imported on the first run, not on start: every process starts the pipelines capability,
    and most never run a pipeline (`caudal worker` never does)."""
    from caudal.pipelines import pipeline

    return pipeline.build(settings, app_url, request)


def lock_key(pipeline: str, request: RunRequest) -> tuple[int, int]:
    """The advisory lock of (pipeline, date): two int4 keys."""
    return zlib.crc32(pipeline.encode()) - 2**31, request.run_date.toordinal()


@dataclass
class Claim:
    """A recorded `running` run holding its date's lock; `Runner.execute` releases it."""

    conn: psycopg.AsyncConnection[tuple[object, ...]]
    request: RunRequest
    record: RunRecord


class Runner:
    def __init__(self, settings: Settings, app_url: str, builder: Builder = build) -> None:
        self.settings = settings
        self.app_url = app_url
        self.builder = builder

    async def claim(self, request: RunRequest) -> Claim | None:
        """Lock the date and record the run; None when the scheduler already ran this date.

        Raises 409 `CAU-PIPELINES-RUN-IN-PROGRESS` when another run holds the date.
        """
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.app_url,
                autocommit=True,
                application_name="caudal-pipelines",
                connect_timeout=5,
            )
        except psycopg.OperationalError as exc:
            raise unavailable("the database is unavailable; the run was not started") from exc
        try:
            key = lock_key(request.pipeline, request)
            if not await fetch_value(conn, "SELECT pg_try_advisory_lock(%s, %s)", key):
                raise run_in_progress(request.pipeline, request.run_date)
            # Holding the lock, a row still 'running' belongs to a process that died.
            await runs.abandon_stale(conn, request.pipeline, request.run_date)
            if request.trigger == "schedule" and await runs.scheduled_exists(
                conn, request.pipeline, request.run_date
            ):
                await conn.close()
                return None
            try:
                record = await runs.insert(conn, request)
            except psycopg.errors.UniqueViolation as exc:
                if request.trigger == "schedule":
                    await conn.close()
                    return None
                raise run_in_progress(request.pipeline, request.run_date) from exc
        except BaseException:
            await conn.close()
            raise
        return Claim(conn, request, record)

    async def execute(self, claim: Claim, progress: Progress = no_progress) -> RunRecord:
        """Run the claimed request in a worker thread; record the outcome; release the lock."""
        started = time.perf_counter()
        request, run_id = claim.request, claim.record.id
        log = _log.bind(run_id=run_id, run_date=request.run_date.isoformat())
        status, rows, outputs = "failed", None, list[str]()
        error: dict[str, object] | None = None
        try:
            pipe = self.builder(self.settings, self.app_url, request)
            outcome = await asyncio.to_thread(pipe.run, run_id, request.run_date, progress)
            status, rows, outputs = "succeeded", outcome.rows, outcome.outputs
        except PipelineError as exc:
            error = exc.record()
            log.warning("pipeline_failed", code=exc.code, detail=exc.detail)
        except Exception as exc:
            error = {"code": "CAU-PIPELINES-INTERNAL", "message": f"{type(exc).__name__}: {exc}"}
            log.exception("pipeline_crashed")
        finally:
            try:
                record = await runs.finish(
                    claim.conn,
                    run_id,
                    status=status,
                    rows=rows,
                    duration_ms=int((time.perf_counter() - started) * 1000),
                    outputs=outputs,
                    error=error,
                )
            finally:
                await claim.conn.close()  # releases the advisory lock
        log.info("pipeline_run", status=status, rows=rows, duration_ms=record.duration_ms)
        return record

    async def run(self, request: RunRequest, progress: Progress = no_progress) -> RunRecord | None:
        claim = await self.claim(request)
        if claim is None:
            return None
        return await self.execute(claim, progress)
