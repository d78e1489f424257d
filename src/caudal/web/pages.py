"""The dashboard's pages: each reads its capability's routes as the signed-in user."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from caudal.platform import scopes
from caudal.platform.http.deps import container
from caudal.web.deps import page_session
from caudal.web.forms import action_outcome, checked_form
from caudal.web.overview import RANGES, pick_range
from caudal.web.render import render
from caudal.web.section import Section
from caudal.web.sessions import WebSession
from caudal.web.snapshot import overview_snapshot
from caudal.web.sources import bus, customers, quarantine
from caudal.web.sources.fetch import Reader, is_uuid

router = APIRouter(include_in_schema=False)

Session = Annotated[WebSession, Depends(page_session)]

QUARANTINE_FILTERS = ("type", "reason", "status", "cursor")


def _filters(params: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The filters of a listing, from its query string or a form that carried them."""
    return {n: params[n].strip()[:200] for n in names if params.get(n, "").strip()}


def _no_such_entry(session: WebSession, title: str) -> Response:
    """An entry id that is not even a UUID never reaches an API path."""
    return render(
        "message.html",
        session=session,
        status=404,
        title=title,
        message="No such quarantine entry.",
    )


def _count(value: str | None) -> int | None:
    """A count echoed back after a redirect: digits only, never free text from the URL."""
    return int(value) if value is not None and value.isdigit() and len(value) < 10 else None


@router.get("/", summary="Overview")
async def overview(request: Request, session: Session) -> Response:
    span = pick_range(request.query_params.get("range"))
    snapshot = await overview_snapshot(Reader.of(request, session), span=span)
    return render(
        "overview.html",
        session=session,
        active="overview",
        title="Overview",
        snapshot=snapshot,
        span=span,
        ranges=RANGES,
        can_monitor=session.has(scopes.MONITOR_READ),
    )


@router.get("/quarantine", summary="Quarantine and dead letters")
async def quarantine_page(request: Request, session: Session) -> Response:
    params = request.query_params
    return await _quarantine_view(
        request,
        session,
        _filters(params, QUARANTINE_FILTERS),
        replayed=_count(params.get("replayed")),
        invalid=_count(params.get("invalid")),
        redriven=_count(params.get("redriven")),
        discarded=params.get("discarded"),
    )


@router.post("/quarantine/{entry_id}/reveal", summary="Reveal one payload (CSRF-checked, audited)")
async def quarantine_reveal(request: Request, entry_id: str, session: Session) -> Response:
    """A POST, not a link: a reveal is an audited act, never a prefetch or a crawler's GET. The
    page comes back as it was (its filters travel in the form) with the payload above the list."""
    form = await checked_form(request, session, "Reveal")
    if isinstance(form, Response):
        return form
    if not is_uuid(entry_id):
        return _no_such_entry(session, "Not revealed")
    revealed = await quarantine.reveal(Reader.of(request, session), entry_id)
    filters = _filters(form, QUARANTINE_FILTERS)
    return await _quarantine_view(request, session, filters, reveal=(entry_id, revealed))


async def _quarantine_view(
    request: Request,
    session: WebSession,
    filters: dict[str, str],
    *,
    reveal: tuple[str, Section] | None = None,
    replayed: int | None = None,
    invalid: int | None = None,
    redriven: int | None = None,
    discarded: str | None = None,
) -> Response:
    """The quarantine page: the listing under `filters`, the dead letters, the outcome of the
    action that led here, and a revealed payload (the entry id and what the API answered)."""
    read = Reader.of(request, session)
    held = await quarantine.quarantined(read, {**filters, "limit": "100"})
    dead = await bus.dead_letters(read)
    revealed = None
    if reveal is not None:
        entry_id, section = reveal
        rows = held.value["rows"] if held.ok and held.value else []
        entry = next((q for q in rows if q.get("id") == entry_id), None)
        revealed = {"id": entry_id, "section": section, "entry": entry}
    return render(
        "quarantine.html",
        session=session,
        active="quarantine",
        title="Quarantine and dead letters",
        filters=filters,
        held=held,
        dead=dead,
        revealed=revealed,
        replayed=replayed,
        invalid=invalid,
        redriven=redriven,
        discarded=discarded,
        can_redrive=session.has(scopes.ADMIN),
        can_replay=session.has(scopes.EVENTS_WRITE),
        can_reveal=session.has(scopes.EVENTS_READ),
        ttl_days=container(request).settings.events.quarantine_ttl_days,
    )


@router.post("/quarantine/replay", summary="Replay quarantined events (CSRF-checked)")
async def quarantine_replay(request: Request, session: Session) -> Response:
    form = await checked_form(request, session, "Replay")
    if isinstance(form, Response):
        return form
    event_type = form.get("type", "").strip()[:200] or None
    result = await quarantine.replay(Reader.of(request, session), event_type)
    body: Any = result.value if result.ok else {}
    replayed = body.get("replayed", 0) if isinstance(body, dict) else 0
    invalid = len(body.get("still_invalid", [])) if isinstance(body, dict) else 0
    target = f"/quarantine?replayed={int(replayed)}&invalid={invalid}"
    return action_outcome(result, session, target, "Replay not done")


@router.post("/quarantine/{entry_id}/discard", summary="Discard a held entry (CSRF-checked)")
async def quarantine_discard(request: Request, entry_id: str, session: Session) -> Response:
    form = await checked_form(request, session, "Discard")
    if isinstance(form, Response):
        return form
    if not is_uuid(entry_id):
        return _no_such_entry(session, "Not discarded")
    result = await quarantine.discard(Reader.of(request, session), entry_id)
    gone = "1" if result.value else "0"
    return action_outcome(result, session, f"/quarantine?discarded={gone}", "Not discarded")


@router.post("/quarantine/dead-letters/redrive", summary="Re-drive dead letters (CSRF-checked)")
async def dead_letters_redrive(request: Request, session: Session) -> Response:
    form = await checked_form(request, session, "Re-drive")
    if isinstance(form, Response):
        return form
    result = await bus.redrive(Reader.of(request, session))
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
    found = await customers.lookup(Reader.of(request, session), cpf) if cpf else None
    return render(
        "customers.html",
        session=session,
        active="customers",
        title="Customers",
        cpf=cpf,
        found=found,
    )
