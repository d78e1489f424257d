"""Download CSV of a run: streamed when the file is there, a clear 410 before any byte when the
export retention deleted it (never a 200 whose stream aborts)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

import httpx

from caudal.pipelines import runs
from caudal.pipelines.model import RunRequest
from caudal.platform.bootstrap import Container

SignIn = Callable[..., Awaitable[httpx.Response]]


async def test_a_deleted_export_answers_410_before_streaming(
    client: httpx.AsyncClient, signed_in: SignIn, container: Container, tmp_path: Path
) -> None:
    csv = tmp_path / "exports" / "user_carts.csv"
    csv.parent.mkdir()
    csv.write_text("user_id,last_cart_date\n1,2020-03-02\n")
    request = RunRequest(date(2020, 3, 2), "fakestore", "cli", "tester")
    async with container.database.connection() as conn:
        run = await runs.insert(conn, request)
        await runs.finish(
            conn,
            run.id,
            status="succeeded",
            rows=1,
            duration_ms=5,
            outputs=[f"file://{csv}"],
            error=None,
        )
    await signed_in("pipelines:read")
    there = await client.get(f"/pipelines/runs/{run.id}/csv")
    assert there.status_code == 200
    assert there.text == "user_id,last_cart_date\n1,2020-03-02\n"
    csv.unlink()  # what retention does to an old partition
    gone = await client.get(f"/pipelines/runs/{run.id}/csv")
    assert gone.status_code == 410
    assert gone.headers["content-type"].startswith("text/html")
    assert "CAUDAL_PIPELINES__RETENTION_DAYS" in gone.text
