"""The ledger page: an account's balance and whole statement (read page by page through the
API's cursor), the statement as CSV, and the consolidated day."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pyarrow as pa
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from caudal.ledger.reads import STATEMENT_COLUMNS
from caudal.web import export
from caudal.web.deps import data_session, page_session
from caudal.web.render import render
from caudal.web.sessions import WebSession
from caudal.web.sources import ledger
from caudal.web.sources.fetch import Reader

router = APIRouter(include_in_schema=False)

COLUMNS = tuple(
    export.Column(name, pa.string(), export.text(name))
    for name in STATEMENT_COLUMNS
    if name != "id"
)


def _param(request: Request, name: str, size: int) -> str:
    return request.query_params.get(name, "").strip()[:size]


@router.get("/ledger", summary="Ledger")
async def ledger_page(
    request: Request, session: Annotated[WebSession, Depends(page_session)]
) -> Response:
    branch, account = _param(request, "branch", 20), _param(request, "account", 30)
    day = _param(request, "date", 10) or None
    period = (_param(request, "from", 10) or None, _param(request, "to", 10) or None)
    cursor = _param(request, "cursor", 200) or None
    consolidated_day = _param(request, "day", 10) or None
    read = Reader.of(request, session)
    account_view = None
    if branch and account:
        account_view = {
            "balance": await ledger.balance(read, branch, account, day),
            "statement": await ledger.statement(read, branch, account, period, cursor),
        }
    consolidated = (
        await ledger.consolidated(read, consolidated_day)
        if "day" in request.query_params or not (branch and account)
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
        start=period[0] or "",
        end=period[1] or "",
        cursor=cursor,
        consolidated_day=consolidated_day or "",
        account_view=account_view,
        consolidated=consolidated,
    )


@router.get("/ledger/statement.csv", summary="An account's statement as CSV (streamed)")
async def statement_csv(
    request: Request, session: Annotated[WebSession, Depends(data_session)]
) -> Response:
    branch, account = _param(request, "branch", 20), _param(request, "account", 30)
    period = (_param(request, "from", 10) or None, _param(request, "to", 10) or None)
    read = Reader.of(request, session)
    pages = ledger.statement_pages(read, branch, account, period, max_rows=export.MAX_ROWS)
    first = await anext(pages) if branch and account else None
    if first is None or not first.ok or not isinstance(first.value, dict):
        return render(
            "message.html",
            session=session,
            status=403 if first is not None and first.state == "forbidden" else 404,
            title="No statement",
            message=(first.message if first is not None else "") or "No such account or period.",
        )
    body = first.value

    async def rows() -> AsyncIterator[list[dict[str, Any]]]:
        yield list(body.get("items") or [])
        async for section in pages:
            if not section.ok or not isinstance(section.value, dict):
                return
            yield list(section.value.get("items") or [])

    parts = (branch, account, str(body.get("from", "")), str(body.get("to", "")))
    name = "statement-" + "-".join(re.sub(r"[^0-9A-Za-z]", "", p) for p in parts) + ".csv"
    return StreamingResponse(
        export.csv_stream(COLUMNS, rows()),
        media_type=export.FORMATS["csv"],
        headers=export.attachment(name),
    )
