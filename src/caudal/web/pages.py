"""The dashboard's pages: each reads its capability's routes as the signed-in user."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.responses import Response, StreamingResponse

from caudal.platform import scopes
from caudal.web.deps import data_session, page_session
from caudal.web.forms import action_outcome, checked_form
from caudal.web.render import render
from caudal.web.section import Section
from caudal.web.sessions import WebSession
from caudal.web.snapshot import overview_snapshot
from caudal.web.sources import bus, customers, ledger, monitor, pipelines, quarantine
from caudal.web.sources.fetch import Reader

router = APIRouter(include_in_schema=False)

Session = Annotated[WebSession, Depends(page_session)]

EVENT_FILTERS = ("type", "platform", "device", "from", "to", "cursor")
QUARANTINE_FILTERS = ("type", "reason", "status", "cursor")


def reader(request: Request, session: WebSession) -> Reader:
    return Reader(request.app, session, getattr(request.state, "trace_key", None))


def _filters(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    params = request.query_params
    return {n: params[n].strip()[:200] for n in names if params.get(n, "").strip()}


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _count(value: str | None) -> int | None:
    """A count echoed back after a redirect: digits only, never free text from the URL."""
    return int(value) if value is not None and value.isdigit() and len(value) < 10 else None


def _to_utc(value: str) -> str:
    """`datetime-local` inputs carry no zone: they are read as UTC, the dashboard's zone."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


@router.get("/", summary="Overview")
async def overview(request: Request, session: Session) -> Response:
    snapshot = await overview_snapshot(reader(request, session))
    return render(
        "overview.html",
        session=session,
        active="overview",
        title="Overview",
        snapshot=snapshot,
        can_monitor=session.has(scopes.MONITOR_READ),
    )


@router.get("/events", summary="Events explorer")
async def events(request: Request, session: Session) -> Response:
    filters = _filters(request, EVENT_FILTERS)
    query = {k: (_to_utc(v) if k in ("from", "to") else v) for k, v in filters.items()}
    query["limit"] = "50"
    found = await monitor.recent_events(reader(request, session), query)
    return render(
        "events.html",
        session=session,
        active="events",
        title="Events",
        filters=filters,
        found=found,
    )


@router.get("/quarantine", summary="Quarantine and dead letters")
async def quarantine_page(request: Request, session: Session) -> Response:
    filters = _filters(request, QUARANTINE_FILTERS)
    read = reader(request, session)
    held = await quarantine.quarantined(read, {**filters, "limit": "100"})
    dead = await bus.dead_letters(read)
    replayed = _count(request.query_params.get("replayed"))
    return render(
        "quarantine.html",
        session=session,
        active="quarantine",
        title="Quarantine and dead letters",
        filters=filters,
        held=held,
        dead=dead,
        replayed=replayed,
        invalid=_count(request.query_params.get("invalid")),
        redriven=_count(request.query_params.get("redriven")),
        can_redrive=session.has(scopes.ADMIN),
        can_replay=session.has(scopes.EVENTS_WRITE),
    )


@router.post("/quarantine/replay", summary="Replay quarantined events (CSRF-checked)")
async def quarantine_replay(request: Request, session: Session) -> Response:
    form = await checked_form(request, session, "Replay")
    if isinstance(form, Response):
        return form
    event_type = form.get("type", "").strip()[:200] or None
    result = await quarantine.replay(reader(request, session), event_type)
    body: Any = result.value if result.ok else {}
    replayed = body.get("replayed", 0) if isinstance(body, dict) else 0
    invalid = len(body.get("still_invalid", [])) if isinstance(body, dict) else 0
    target = f"/quarantine?replayed={int(replayed)}&invalid={invalid}"
    return action_outcome(result, session, target, "Replay not done")


@router.post("/quarantine/dead-letters/redrive", summary="Re-drive dead letters (CSRF-checked)")
async def dead_letters_redrive(request: Request, session: Session) -> Response:
    form = await checked_form(request, session, "Re-drive")
    if isinstance(form, Response):
        return form
    result = await bus.redrive(reader(request, session))
    redriven = int(result.value) if result.ok else 0
    return action_outcome(result, session, f"/quarantine?redriven={redriven}", "Re-drive not done")


@router.get("/customers", summary="Customer lookup")
async def customers_page(session: Session) -> Response:
    return render(
        "customers.html", session=session, active="customers", title="Customers", cpf="", found=None
    )


@router.post("/customers", summary="Customer lookup (the CPF travels in the body, never the URL)")
async def customers_lookup(request: Request, session: Session) -> Response:
    form = await checked_form(request, session, "Lookup")
    if isinstance(form, Response):
        return form
    cpf = form.get("cpf", "").strip()[:20]
    found = await customers.lookup(reader(request, session), cpf) if cpf else None
    return render(
        "customers.html",
        session=session,
        active="customers",
        title="Customers",
        cpf=cpf,
        found=found,
    )


@router.get("/ledger", summary="Ledger")
async def ledger_page(request: Request, session: Session) -> Response:
    params = request.query_params
    branch = params.get("branch", "").strip()[:20]
    account = params.get("account", "").strip()[:30]
    day = params.get("date", "").strip()[:10] or None
    start = params.get("from", "").strip()[:10] or None
    end = params.get("to", "").strip()[:10] or None
    consolidated_day = params.get("day", "").strip()[:10] or None
    read = reader(request, session)
    account_view = None
    if branch and account:
        account_view = {
            "balance": await ledger.balance(read, branch, account, day),
            "statement": await ledger.statement(read, branch, account, start, end),
        }
    consolidated = (
        await ledger.consolidated(read, consolidated_day)
        if "day" in params or not (branch and account)
        else None
    )
    return render(
        "ledger.html",
        session=session,
        active="ledger",
        title="Ledger",
        branch=branch,
        account=account,
        day=day or "",
        start=start or "",
        end=end or "",
        consolidated_day=consolidated_day or "",
        account_view=account_view,
        consolidated=consolidated,
    )


@router.get("/pipelines", summary="Pipelines")
async def pipelines_page(request: Request, session: Session) -> Response:
    runs = await pipelines.runs(reader(request, session), 50)
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
async def pipelines_start(request: Request, session: Session) -> Response:
    form = await checked_form(request, session, "Run")
    if isinstance(form, Response):
        return form
    result = await pipelines.start_user_carts(reader(request, session))
    return action_outcome(result, session, "/pipelines?started=1", "Run not started")


@router.get("/pipelines/runs/{run_id}/csv", summary="Download a run's CSV")
async def pipeline_csv(
    request: Request, run_id: str, session: Annotated[WebSession, Depends(data_session)]
) -> Response:
    found = (
        await pipelines.run(reader(request, session), run_id)
        if _is_uuid(run_id)
        else Section("ok", None)
    )
    if not found.ok or not isinstance(found.value, dict):
        status = 403 if found.state == "forbidden" else 404
        return render(
            "message.html",
            session=session,
            status=status,
            title="No such file",
            message=found.message or "This run does not exist or has no CSV output.",
        )
    url = pipelines.csv_output(found.value)
    if url is None or found.value.get("status") != "succeeded":
        return render(
            "message.html",
            session=session,
            status=404,
            title="No such file",
            message="This run has no CSV output (it failed or is still running).",
        )
    chunks = await run_in_threadpool(pipelines.open_output, url)
    if chunks is None:
        return render(
            "message.html",
            session=session,
            status=410,
            title="File deleted",
            message="This run's CSV is gone: the export retention "
            "(CAUDAL_PIPELINES__RETENTION_DAYS) deleted it. Run that date again to recreate it.",
        )
    name = f"{found.value.get('pipeline', 'output')}-{found.value.get('run_date', 'run')}.csv"
    return StreamingResponse(
        iterate_in_threadpool(chunks),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
