"""HTTP: the run history and a trigger for user-carts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from caudal.pipelines import context, runs
from caudal.pipelines.api_models import Run, Runs
from caudal.pipelines.model import USER_CARTS, RunRequest, parse_run_date
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.errors import not_found
from caudal.platform.http.deps import container, require
from caudal.platform.http.openapi import problems

router = APIRouter(prefix="/v1/pipelines", tags=["pipelines"])


class TriggerBody(BaseModel):
    date: str | None = Field(
        default=None,
        description="Run date YYYY-MM-DD (default: today, UTC).",
        examples=["2020-03-02"],
    )
    source: Literal["fakestore", "lake"] | None = Field(
        default=None, description="Default: CAUDAL_PIPELINES__SOURCE."
    )


@router.get("/runs", summary="The run history, newest first.", response_model=Runs)
async def list_runs(
    request: Request,
    _: Annotated[Principal, Depends(require(scopes.PIPELINES_READ))],
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    pipeline: str | None = None,
    status: Literal["running", "succeeded", "failed", "abandoned"] | None = None,
) -> dict[str, Any]:
    """Scheduled, API and CLI runs with their status, rows, duration, outputs and error."""
    async with container(request).database.connection() as conn:
        found = await runs.recent(conn, limit=limit, pipeline=pipeline, status=status)
    return {"runs": [r.as_json() for r in found]}


@router.get("/runs/{run_id}", summary="One run.", response_model=Run, responses=problems(404))
async def get_run(
    request: Request,
    run_id: str,
    _: Annotated[Principal, Depends(require(scopes.PIPELINES_READ))],
) -> dict[str, Any]:
    """Poll it after a trigger: `status` leaves `running` when the run ends."""
    if not _is_uuid(run_id):
        raise not_found("run", "CAU-PIPELINES-RUN-NOT-FOUND")
    async with container(request).database.connection() as conn:
        record = await runs.get(conn, run_id)
    if record is None:
        raise not_found("run", "CAU-PIPELINES-RUN-NOT-FOUND")
    return record.as_json()


@router.post(
    "/user-carts/runs",
    status_code=202,
    summary="Run the user-carts pipeline now.",
    responses={202: {"model": Run}, **problems(conflict="Another run holds this date.")},
)
async def trigger(
    request: Request,
    principal: Annotated[Principal, Depends(require(scopes.PIPELINES_RUN))],
    body: TriggerBody | None = None,
) -> JSONResponse:
    """Start a run now; answers 202 with the run (poll `GET /v1/pipelines/runs/{id}`)."""
    body = body or TriggerBody()
    c = container(request)
    run_request = RunRequest(
        run_date=parse_run_date(body.date),
        source=body.source or c.settings.pipelines.source,
        trigger="api",
        requested_by=principal.subject,
        pipeline=USER_CARTS,
    )
    pipelines = context.get(c)
    claim = await pipelines.runner.claim(run_request)
    assert claim is not None  # only scheduled requests can be skipped
    pipelines.launch(claim)
    return JSONResponse(
        claim.record.as_json(),
        status_code=202,
        headers={"Location": f"/v1/pipelines/runs/{claim.record.id}"},
    )


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
