"""FlowApi compatibility (seed 003, llisboa/FlowApi): its four routes, query parameters
(case-insensitive, as ASP.NET binds them) and camelCase response fields, unchanged.

Differences, by design: AddTransactionAsync answers 202 (the posting is asynchronous) with
FlowApi's `{id, traceKey}` (the id the transaction gets when posted); errors are
problem+json with stable codes (400 as FlowApi); scopes `ledger:write` (PUT) and `ledger:read`.
The four routes are served from the app's entry (`platform/http/direct.py`), answering as
FastAPI's stack would.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from psycopg.rows import dict_row

from caudal.ledger import context, validation
from caudal.ledger.api_models import FlowAccumulated, FlowAdded, FlowBalance, FlowTransaction
from caudal.ledger.intake import CONFLICT, INVALID
from caudal.ledger.queries import q
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.errors import CaudalError, FieldError, conflict
from caudal.platform.http.deps import container, require
from caudal.platform.http.direct import direct
from caudal.platform.http.openapi import problems

router = APIRouter(prefix="/api", tags=["ledger (FlowApi)"])

Writer = Annotated[Principal, Depends(require(scopes.LEDGER_WRITE))]
Reader = Annotated[Principal, Depends(require(scopes.LEDGER_READ))]

PAIR_REQUIRED = "CAU-LEDGER-BRANCH-ACCOUNT-PAIR"
DATE_REQUIRED = "CAU-LEDGER-DATE-REQUIRED"
DATE_INVALID = "CAU-LEDGER-DATE-INVALID"
TOO_MANY_ROWS = "CAU-LEDGER-TOO-MANY-ROWS"


def bad_request(errors: list[FieldError]) -> CaudalError:
    first = errors[0]
    return CaudalError(
        code=first.code,
        detail=first.message,
        status=400,
        title="Bad request",
        field=first.field,
        errors=errors,
    )


def params_of(request: Request) -> dict[str, str]:
    """Query parameters by lower-cased name (ASP.NET model binding ignores case)."""
    return {k.lower(): v for k, v in request.query_params.items()}


# ---- rendering: FlowApi's camelCase fields; decimals as JSON numbers with their 2 decimals


def _value(value: Any) -> bytes:
    if isinstance(value, Decimal):
        return f"{value:.2f}".encode()
    if isinstance(value, datetime):
        return orjson.dumps(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))
    if isinstance(value, date):
        return orjson.dumps(f"{value.isoformat()}T00:00:00")
    return orjson.dumps(value)


def render(rows: Sequence[dict[str, Any]]) -> bytes:
    """A JSON array of flat objects, money exact (never through float)."""
    parts = []
    for row in rows:
        fields = [orjson.dumps(k) + b":" + _value(v) for k, v in row.items()]
        parts.append(b"{" + b",".join(fields) + b"}")
    return b"[" + b",".join(parts) + b"]"


def json_response(rows: Sequence[dict[str, Any]]) -> Response:
    if not rows:
        return Response(status_code=204)
    return Response(render(rows), media_type="application/json")


# ---- the query models of FlowApi (GetTransactionIn / GetBalanceIn)


def read_filter(request: Request) -> dict[str, Any]:
    """Branch and account both given or both absent; DateRefStart and DateRefEnd required."""
    p = params_of(request)
    errors: list[FieldError] = []
    dates: dict[str, date] = {}
    for name in ("DateRefStart", "DateRefEnd"):
        raw = p.get(name.lower(), "")
        if not raw:
            errors.append(FieldError(name, DATE_REQUIRED, f"'{name}' must not be empty."))
            continue
        parsed = validation.parse_date(raw)
        if parsed is None:
            errors.append(FieldError(name, DATE_INVALID, f"The value '{raw}' is not valid."))
        else:
            dates[name] = parsed
    branch, account = p.get("branch") or None, p.get("account") or None
    if (branch is None) != (account is None):
        errors.append(
            FieldError("Branch", PAIR_REQUIRED, "Branch and account must be null or both filled.")
        )
    tracekey = p.get("tracekey") or None
    if tracekey is not None:
        try:
            tracekey = str(uuid.UUID(tracekey))
        except ValueError:
            errors.append(
                FieldError("TraceKey", validation.TRACEKEY_INVALID, "TraceKey must be a GUID.")
            )
    if errors:
        raise bad_request(errors)
    return {
        "start": dates["DateRefStart"],
        "end": dates["DateRefEnd"],
        "branch": branch,
        "account": account,
        "tracekey": tracekey,
    }


async def fetch(request: Request, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows, by FlowApi's field names (the queries name their columns so)."""
    limit = container(request).settings.ledger.flowapi_max_rows
    async with container(request).database.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(q(query), {**params, "limit": limit + 1})
        rows = await cur.fetchall()
    if len(rows) > limit:
        raise bad_request(
            [
                FieldError(
                    "DateRefStart",
                    TOO_MANY_ROWS,
                    f"more than {limit} rows: narrow the dates or use /v1/ledger (paginated)",
                )
            ]
        )
    return rows


_QUERY_DOC = {
    "parameters": [
        {"name": name, "in": "query", "required": required, "schema": schema}
        for name, required, schema in (
            ("DateRefStart", True, {"type": "string", "format": "date"}),
            ("DateRefEnd", True, {"type": "string", "format": "date"}),
            ("Branch", False, {"type": "string"}),
            ("Account", False, {"type": "string"}),
            ("TraceKey", False, {"type": "string", "format": "uuid"}),
        )
    ]
}
_ADD_DOC = {
    "parameters": [
        {"name": name, "in": "query", "required": required, "schema": schema}
        for name, required, schema in (
            ("Branch", True, {"type": "string", "example": "0001"}),
            ("Account", True, {"type": "string", "example": "000012345"}),
            ("Amount", True, {"type": "string", "example": "10.50"}),
            ("DebitCredit", True, {"type": "string", "enum": ["D", "C"]}),
            ("EventCode", True, {"type": "integer", "example": 1}),
            ("Description", False, {"type": "string"}),
            ("TraceKey", True, {"type": "string", "format": "uuid"}),
            ("DateRef", False, {"type": "string", "format": "date"}),
            ("Details", False, {"type": "string", "description": "a JSON document"}),
        )
    ]
}


def _rows(model: type[Any]) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": list[model]},  # type: ignore[valid-type]
        204: {"description": "No row matches."},
        **problems(400),
    }


@router.put(
    "/Transaction/AddTransactionAsync",
    status_code=202,
    summary="Add one transaction (FlowApi), from the query string.",
    openapi_extra=_ADD_DOC,
    responses={202: {"model": FlowAdded}, **problems(400, 409)},
)
@direct
async def add_transaction(request: Request, principal: Writer) -> Response:
    """Inclusão das transações no fluxo: one impact from the query string (parameter names in
    any case, as ASP.NET binds them). 202 with the id the transaction gets once posted; a bad
    parameter is a 400 naming it, a tracekey reused with other content a 409."""
    p = params_of(request)
    raw: dict[str, Any] = {
        "branch": p.get("branch"),
        "account": p.get("account"),
        "amount": p.get("amount"),
        "debitcredit": p.get("debitcredit"),
        "eventcode": p.get("eventcode"),
        "description": p.get("description"),
        "tracekey": p.get("tracekey"),
        "dateref": p.get("dateref"),
    }
    details = p.get("details")
    if details:
        try:
            raw["details"] = orjson.loads(details)
        except orjson.JSONDecodeError as exc:
            raise bad_request(
                [FieldError("Details", validation.DETAILS_INVALID_JSON, "Details must be JSON.")]
            ) from exc
    ledger = context.get(container(request))
    result = (await ledger.intake.accept([raw], ledger.rules(), principal.subject))[0]
    if result.status == INVALID:
        raise bad_request(result.errors)
    if result.status == CONFLICT:
        raise conflict(result.errors[0].message, validation.TRACEKEY_CONFLICT)
    assert result.state is not None
    body = {"id": result.state.reserved_id, "traceKey": result.state.tracekey}
    return Response(orjson.dumps(body), status_code=202, media_type="application/json")


@router.get(
    "/Transaction/GetTransactionAsync",
    summary="Transactions of a date range (FlowApi).",
    openapi_extra=_QUERY_DOC,
    responses=_rows(FlowTransaction),
)
@direct
async def get_transactions(request: Request, _: Reader) -> Response:
    """Transactions of a date range (optionally one account and/or one tracekey); 204 when
    none."""
    rows = await fetch(request, "flowapi_transactions", read_filter(request))
    return json_response(rows)


@router.get(
    "/Transaction/GetTransactionAcumulatedAsync",
    summary="An account's statement with balances before and after each entry (FlowApi).",
    openapi_extra=_QUERY_DOC,
    responses=_rows(FlowAccumulated),
)
@direct
async def get_transactions_accumulated(request: Request, _: Reader) -> Response:
    """The statement: balance before, debit (negative), credit and balance after each entry;
    204 without an account (FlowApi filters on a null branch) or without entries."""
    params = read_filter(request)
    if params["branch"] is None:  # FlowApi filters on branch = NULL: nothing
        return Response(status_code=204)
    rows = await fetch(request, "flowapi_acumulated", params)
    return json_response(rows)


@router.get(
    "/Balance/GetBalanceAsync",
    summary="Daily balance rows of a date range (FlowApi).",
    openapi_extra=_QUERY_DOC,
    responses=_rows(FlowBalance),
)
@direct
async def get_balances(request: Request, _: Reader) -> Response:
    """Daily balance rows of a date range (optionally one account and/or one tracekey); 204
    when none."""
    rows = await fetch(request, "flowapi_balances", read_filter(request))
    return json_response(rows)
