"""The run history in PostgreSQL (`pipelines.runs`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from caudal.pipelines import queries
from caudal.pipelines.model import RunRequest
from caudal.platform.db.pool import AsyncConn


@dataclass(frozen=True)
class RunRecord:
    id: str
    pipeline: str
    run_date: date
    trigger: str
    source: str
    status: str
    rows: int | None
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    outputs: list[str]
    error: dict[str, Any] | None
    requested_by: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRecord:
        return cls(
            id=str(row["id"]),
            pipeline=row["pipeline"],
            run_date=row["run_date"],
            trigger=row["trigger"],
            source=row["source"],
            status=row["status"],
            rows=row["rows"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            duration_ms=row["duration_ms"],
            outputs=list(row["outputs"] or []),
            error=row["error"],
            requested_by=row["requested_by"],
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "run_date": self.run_date.isoformat(),
            "trigger": self.trigger,
            "source": self.source,
            "status": self.status,
            "rows": self.rows,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_ms": self.duration_ms,
            "outputs": self.outputs,
            "error": self.error,
            "requested_by": self.requested_by,
        }


async def _one(conn: AsyncConn, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)
        return await cur.fetchone()


async def insert(conn: AsyncConn, request: RunRequest) -> RunRecord:
    row = await _one(
        conn,
        queries.pg("insert_run"),
        {
            "id": uuid.uuid4(),
            "pipeline": request.pipeline,
            "run_date": request.run_date,
            "trigger": request.trigger,
            "source": request.source,
            "requested_by": request.requested_by,
        },
    )
    assert row is not None
    return RunRecord.from_row(row)


async def finish(
    conn: AsyncConn,
    run_id: str,
    *,
    status: str,
    rows: int | None,
    duration_ms: int,
    outputs: list[str],
    error: dict[str, Any] | None,
) -> RunRecord:
    row = await _one(
        conn,
        queries.pg("finish_run"),
        {
            "id": run_id,
            "status": status,
            "rows": rows,
            "duration_ms": duration_ms,
            "outputs": Jsonb(outputs),
            "error": Jsonb(error) if error is not None else None,
        },
    )
    assert row is not None
    return RunRecord.from_row(row)


async def abandon_stale(conn: AsyncConn, pipeline: str, run_date: date) -> None:
    await conn.execute(queries.pg("abandon_stale"), {"pipeline": pipeline, "run_date": run_date})


async def scheduled_exists(conn: AsyncConn, pipeline: str, run_date: date) -> bool:
    row = await _one(
        conn, queries.pg("scheduled_run_exists"), {"pipeline": pipeline, "run_date": run_date}
    )
    return bool(row and row["exists"])


async def get(conn: AsyncConn, run_id: str) -> RunRecord | None:
    row = await _one(conn, queries.pg("get_run"), {"id": run_id})
    return RunRecord.from_row(row) if row else None


async def recent(
    conn: AsyncConn, *, limit: int = 20, pipeline: str | None = None, status: str | None = None
) -> list[RunRecord]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            queries.pg("list_runs"), {"limit": limit, "pipeline": pipeline, "status": status}
        )
        return [RunRecord.from_row(r) for r in await cur.fetchall()]
