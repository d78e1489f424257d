"""The pipelines page: runs with their source, duration and both outputs (CSV and Parquet), a
running run followed until it ends, and the button that starts user-carts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse

from caudal.platform import scopes
from caudal.web import export
from caudal.web.deps import data_session, page_session
from caudal.web.forms import action_outcome, checked_form
from caudal.web.render import render
from caudal.web.section import Section
from caudal.web.sessions import WebSession
from caudal.web.sources import pipelines
from caudal.web.sources.fetch import Reader, is_uuid

router = APIRouter(include_in_schema=False)

Page = Annotated[WebSession, Depends(page_session)]
Data = Annotated[WebSession, Depends(data_session)]


async def _run(request: Request, session: WebSession, run_id: str) -> Section:
    if not is_uuid(run_id):
        return Section("ok", None)
    return await pipelines.run(Reader.of(request, session), run_id)


@router.get("/pipelines", summary="Pipelines")
async def pipelines_page(request: Request, session: Page) -> Response:
    runs = await pipelines.runs(Reader.of(request, session), 50)
    return render(
        "pipelines.html",
        session=session,
        active="pipelines",
        title="Pipelines",
        runs=runs,
        can_run=session.has(scopes.PIPELINES_RUN),
        started=request.query_params.get("started") == "1",
    )


@router.post("/pipelines/user-carts/run", summary="Start user-carts now (CSRF-checked)")
async def pipelines_start(request: Request, session: Page) -> Response:
    form = await checked_form(request, session, "Run")
    if isinstance(form, Response):
        return form
    result = await pipelines.start_user_carts(Reader.of(request, session))
    return action_outcome(result, session, "/pipelines?started=1", "Run not started")


@router.get("/ui/pipelines/runs/{run_id}", summary="One run's state (the page's poll)")
async def run_state(request: Request, run_id: str, session: Data) -> Response:
    found = await _run(request, session, run_id)
    if not found.ok or not isinstance(found.value, dict):
        status = 403 if found.state == "forbidden" else 404
        return JSONResponse({"detail": found.message or "no such run"}, status_code=status)
    run = found.value
    keys = ("id", "status", "rows", "duration_ms", "finished_at")
    return JSONResponse({k: run.get(k) for k in keys}, headers={"Cache-Control": "no-store"})


@router.get("/pipelines/runs/{run_id}/{kind}", summary="Download a run's CSV or Parquet output")
async def run_output(request: Request, run_id: str, kind: str, session: Data) -> Response:
    found = await _run(request, session, run_id) if kind in pipelines.KINDS else Section.of(None)
    run = found.value if found.ok and isinstance(found.value, dict) else None
    url = pipelines.output(run, kind) if run and run.get("status") == "succeeded" else None
    if run is None or url is None:
        return render(
            "message.html",
            session=session,
            status=403 if found.state == "forbidden" else 404,
            title="No such file",
            message=found.message
            or f"This run has no {kind.upper()} output (it failed or is still running).",
        )
    chunks = await run_in_threadpool(pipelines.open_output, url)
    if chunks is None:
        return render(
            "message.html",
            session=session,
            status=410,
            title="File deleted",
            message=f"This run's {kind.upper()} is gone: the export retention "
            "(CAUDAL_PIPELINES__RETENTION_DAYS) deleted it. Run that date again to recreate it.",
        )
    name = f"{run.get('pipeline', 'output')}-{run.get('run_date', 'run')}.{kind}"
    return StreamingResponse(
        iterate_in_threadpool(chunks),
        media_type=pipelines.KINDS[kind],
        headers=export.attachment(name),
    )
