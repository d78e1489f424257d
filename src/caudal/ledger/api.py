"""caudal's own ledger API: `/v1/ledger/...` (docs/ledger.md)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta
from typing import Annotated, Any

import orjson
import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from caudal.ledger import context, validation
from caudal.ledger.api_models import (
    BalanceOut,
    BatchAnswer,
    Consolidated,
    EventCode,
    EventCodes,
    ImpactState,
    Statement,
)
from caudal.ledger.intake import CONFLICT, INVALID, ItemResult, load_states
from caudal.ledger.queries import q
from caudal.ledger.reads import CONSOLIDATED_COLUMNS, STATEMENT_COLUMNS, BadCursor
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.errors import CaudalError, conflict, not_found, validation_error
from caudal.platform.http.deps import container, json_body, require
from caudal.platform.http.direct import direct
from caudal.platform.http.openapi import problems

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])

Writer = Annotated[Principal, Depends(require(scopes.LEDGER_WRITE))]
Reader = Annotated[Principal, Depends(require(scopes.LEDGER_READ))]

DATE_INVALID = "CAU-LEDGER-DATE-INVALID"
RANGE_INVALID = "CAU-LEDGER-RANGE-INVALID"
CURSOR_INVALID = "CAU-LEDGER-CURSOR-INVALID"
LIMIT_INVALID = "CAU-LEDGER-LIMIT-INVALID"
MAX_STATEMENT_DAYS = 366

_IMPACT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": list(validation.REQUIRED_FIELDS),
    "properties": {
        "tracekey": {"type": "string", "format": "uuid"},
        "branch": {"type": "string", "example": "0001"},
        "account": {"type": "string", "example": "000012345"},
        "amount": {"type": "string", "example": "10.50", "description": "> 0, 2 decimals"},
        "debitcredit": {"type": "string", "enum": ["D", "C"]},
        "eventcode": {"type": "integer", "example": 1},
        "description": {"type": "string", "maxLength": 200},
        "details": {"type": "object"},
        "dateref": {"type": "string", "format": "date"},
    },
}
_IMPACTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _IMPACT_SCHEMA,
                        {"type": "array", "items": _IMPACT_SCHEMA, "maxItems": 1000},
                    ]
                }
            }
        },
    }
}


def parse_day(value: str | None, name: str, default: date | None = None) -> date:
    if value is None or value == "":
        if default is None:
            raise validation_error(name, DATE_INVALID, f"{name} is required (YYYY-MM-DD)")
        return default
    parsed = validation.parse_date(value)
    if parsed is None:
        raise validation_error(name, DATE_INVALID, f"{name} must be a date (YYYY-MM-DD)")
    return parsed


def today(request: Request) -> date:
    return container(request).clock.now().date()


def page_limit(request: Request, limit: int | None) -> int:
    settings = container(request).settings.ledger
    if limit is None:
        return settings.page_size
    if not 1 <= limit <= settings.max_page_size:
        raise validation_error(
            "limit", LIMIT_INVALID, f"limit must be between 1 and {settings.max_page_size}"
        )
    return limit


def single_answer(result: ItemResult) -> JSONResponse:
    if result.status == INVALID:
        first = result.errors[0]
        raise CaudalError(
            code=first.code,
            detail=first.message,
            status=422,
            title="Validation failed",
            field=first.field,
            errors=result.errors,
        )
    if result.status == CONFLICT:
        error = conflict(result.errors[0].message, validation.TRACEKEY_CONFLICT)
        error.field = "tracekey"
        raise error
    assert result.state is not None
    return JSONResponse(result.state.as_dict(), status_code=202)


@router.post(
    "/impacts",
    status_code=202,
    summary="Accept one impact or a batch; postings follow asynchronously.",
    openapi_extra=_IMPACTS_BODY,
    responses={
        202: {
            "model": ImpactState | BatchAnswer,
            "description": "One impact: its state. A batch: counts and one result per impact.",
        },
        **problems(409),
    },
)
@direct  # served from the app's entry (platform/http/direct.py): the ledger's intake
async def post_impacts(request: Request, principal: Writer) -> JSONResponse:
    """Accept one impact (an object) or a batch (an array of up to `max_batch`): every rule is
    checked up front; accepted impacts are posted asynchronously. A single impact that breaks a
    rule is a 422 naming the field; a tracekey reused with other content is a 409."""
    body = await json_body(request)
    ledger = context.get(container(request))
    if isinstance(body, dict):
        results = await ledger.intake.accept([body], ledger.rules(), principal.subject)
        return single_answer(results[0])
    if not isinstance(body, list):
        raise validation_error(
            "body", validation.BODY_INVALID, "send an impact object or an array of impacts"
        )
    limit = container(request).settings.ledger.max_batch
    if not body:
        raise validation_error("body", validation.BATCH_EMPTY, "the batch has no impact")
    if len(body) > limit:
        raise validation_error(
            "body", validation.BATCH_TOO_LARGE, f"a batch has at most {limit} impacts"
        )
    results = await ledger.intake.accept(body, ledger.rules(), principal.subject)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return JSONResponse(
        {"counts": counts, "results": [r.as_dict() for r in results]}, status_code=202
    )


@router.get(
    "/impacts/{tracekey}",
    summary="The state of one impact.",
    response_model=ImpactState,
    response_model_exclude_unset=True,  # the fields of its status only
    responses=problems(404),
)
async def get_impact(tracekey: str, request: Request, _: Reader) -> dict[str, Any]:
    """pending (accepted, not yet posted) | posted (with its transaction id) | rejected (with
    its code and reason)."""
    try:
        key = str(uuid.UUID(tracekey))
    except ValueError as exc:
        raise validation_error(
            "tracekey", validation.TRACEKEY_INVALID, "tracekey must be a UUID"
        ) from exc
    async with container(request).database.connection() as conn:
        states = await load_states(conn, [key])
    state = states.get(key)
    if state is None:
        raise not_found(f"impact {tracekey}", "CAU-LEDGER-IMPACT-NOT-FOUND")
    return state.as_dict()


@router.get(
    "/accounts/{branch}/{account}/balance",
    summary="An account's balance at the end of a day.",
    response_model=BalanceOut,
    responses=problems(404),
)
async def get_balance(
    branch: str,
    account: str,
    request: Request,
    _: Reader,
    date_: Annotated[str | None, Query(alias="date", description="YYYY-MM-DD; today")] = None,
) -> dict[str, Any]:
    """Day totals, accumulated debit and credit, and the balance at the end of `date`."""
    day = parse_day(date_, "date", today(request))
    balance = await context.get(container(request)).reads.balance(branch, account, day)
    if balance is None:
        raise not_found(f"account {branch}/{account}", "CAU-LEDGER-ACCOUNT-NOT-FOUND")
    return balance.as_dict()


@router.get(
    "/accounts/{branch}/{account}/statement",
    summary="An account's statement: entries with their running balance (JSON or CSV).",
    response_model=None,
    responses={200: {"model": Statement, "content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def get_statement(
    branch: str,
    account: str,
    request: Request,
    _: Reader,
    from_: Annotated[str | None, Query(alias="from", description="YYYY-MM-DD; = to")] = None,
    to: Annotated[str | None, Query(description="YYYY-MM-DD; today")] = None,
    limit: Annotated[int | None, Query(description="entries per page")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    fmt: Annotated[str | None, Query(alias="format", description="json | csv")] = None,
) -> dict[str, Any] | Response:
    """Every entry of the period in posting order with its running balance: JSON pages
    (`limit`, `next_cursor`), or every entry of the period as CSV (`Accept: text/csv` or
    `?format=csv`)."""
    date_to = parse_day(to, "to", today(request))
    date_from = parse_day(from_, "from", date_to)
    if date_from > date_to or (date_to - date_from) > timedelta(days=MAX_STATEMENT_DAYS):
        raise validation_error(
            "from", RANGE_INVALID, f"from <= to, at most {MAX_STATEMENT_DAYS} days apart"
        )
    if fmt is not None and fmt.lower() not in ("csv", "json"):
        raise validation_error("format", "CAU-LEDGER-FORMAT-INVALID", "format is json or csv")
    reads = context.get(container(request)).reads
    if wants_csv(request, fmt):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(STATEMENT_COLUMNS)
        async for chunk in reads.statement_all(branch, account, date_from, date_to):
            writer.writerows([item[c] for c in STATEMENT_COLUMNS] for item in chunk)
        name = f"statement-{branch}-{account}-{date_from}-{date_to}.csv"
        return Response(
            buffer.getvalue().encode(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    try:
        page = await reads.statement(
            branch, account, date_from, date_to, page_limit(request, limit), cursor
        )
    except BadCursor as exc:
        raise validation_error("cursor", CURSOR_INVALID, "cursor is not one we issued") from exc
    return page.as_dict()


def wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt.lower() == "csv"
    return "text/csv" in request.headers.get("accept", "")


@router.get(
    "/consolidated",
    summary="Every account's day totals and balance at a date (JSON or CSV).",
    response_model=None,
    responses={
        200: {"model": Consolidated, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
async def get_consolidated(
    request: Request,
    _: Reader,
    date_: Annotated[str | None, Query(alias="date", description="YYYY-MM-DD; today")] = None,
    limit: Annotated[int | None, Query(description="accounts per page (JSON)")] = None,
    cursor: Annotated[str | None, Query()] = None,
    fmt: Annotated[str | None, Query(alias="format", description="json | csv")] = None,
) -> Response:
    """The consolidated daily report: every account's day totals and balance at `date`.
    JSON pages, or the whole report as CSV (`Accept: text/csv` or `?format=csv`)."""
    day = parse_day(date_, "date", today(request))
    if fmt is not None and fmt.lower() not in ("csv", "json"):
        raise validation_error("format", "CAU-LEDGER-FORMAT-INVALID", "format is json or csv")
    ledger = context.get(container(request))
    reads = ledger.reads
    if wants_csv(request, fmt):

        async def report() -> bytes:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(CONSOLIDATED_COLUMNS)
            async for chunk in reads.consolidated_all(day):
                for item in chunk:
                    writer.writerow([item[c] for c in CONSOLIDATED_COLUMNS])
            return buffer.getvalue().encode()

        body = await ledger.report_cache.get(("csv", day), report)
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="consolidated-{day}.csv"'},
        )
    size = page_limit(request, limit)

    async def page() -> bytes:
        items, next_cursor = await reads.consolidated(day, size, cursor)
        return orjson.dumps({"date": day.isoformat(), "items": items, "next_cursor": next_cursor})

    try:
        body = await ledger.report_cache.get(("json", day, size, cursor), page)
    except BadCursor as exc:
        raise validation_error("cursor", CURSOR_INVALID, "cursor is not one we issued") from exc
    return Response(body, media_type="application/json")


class EventCodeIn(BaseModel):
    description: str = Field(min_length=1, max_length=200)
    active: bool = True
    allowdebit: bool = True
    allowcredit: bool = True


class EventCodePatch(BaseModel):
    description: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = None
    allowdebit: bool | None = None
    allowcredit: bool | None = None


def event_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    code, active, description, allowdebit, allowcredit = row
    return {
        "code": code,
        "active": active,
        "description": description,
        "allowdebit": allowdebit,
        "allowcredit": allowcredit,
    }


@router.get("/event-codes", summary="Every event code.", response_model=EventCodes)
async def list_event_codes(request: Request, _: Reader) -> dict[str, Any]:
    """The event codes impacts refer to, with whether they are active and allow debits and
    credits."""
    async with container(request).database.connection() as conn:
        rows = await (await conn.execute(q("event_codes"))).fetchall()
    return {"items": [event_dict(tuple(r)) for r in rows]}


@router.post(
    "/event-codes", status_code=201, summary="Create an event code.", response_model=EventCode
)
async def create_event_code(body: EventCodeIn, request: Request, _: Writer) -> dict[str, Any]:
    """The code is assigned by the ledger; returns the new event code."""
    async with container(request).database.connection() as conn:
        row = await (await conn.execute(q("event_code_insert"), body.model_dump())).fetchone()
    assert row is not None
    return event_dict(tuple(row))


@router.patch(
    "/event-codes/{code}",
    summary="Change an event code.",
    response_model=EventCode,
    responses=problems(404),
)
async def update_event_code(
    code: int, body: EventCodePatch, request: Request, _: Writer
) -> dict[str, Any]:
    """Only the fields sent change; returns the event code as it now is."""
    params = {"code": code, **body.model_dump()}
    try:
        async with container(request).database.connection() as conn:
            row = await (await conn.execute(q("event_code_update"), params)).fetchone()
    except psycopg.errors.NumericValueOutOfRange as exc:
        raise not_found(f"event code {code}", "CAU-LEDGER-EVENT-NOT-FOUND") from exc
    if row is None:
        raise not_found(f"event code {code}", "CAU-LEDGER-EVENT-NOT-FOUND")
    return event_dict(tuple(row))
