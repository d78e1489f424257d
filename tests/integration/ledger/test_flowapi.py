"""FlowApi's four routes: query parameters, camelCase fields, 202/204/400 as documented."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import orjson

from caudal.ledger import validation as v
from caudal.platform.bootstrap import Container
from tests.integration.ledger.conftest import posting_workers, today, wait_decided

Auth = Callable[..., dict[str, str]]


def put_params(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Branch": "0001",
        "Account": "000000002",
        "Amount": "8",
        "DebitCredit": "C",
        "EventCode": "5",
        "Description": "venda",
        "TraceKey": str(uuid.uuid4()),
        "Details": '{"pdv": 3}',
        "DateRef": f"{today().isoformat()}T00:00:00",
    }
    params.update(overrides)
    return params


async def test_add_transaction_then_read_it_back(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    w, r = auth("ledger:write"), auth("ledger:read")
    moves = [("C", "8"), ("C", "1"), ("D", "1"), ("D", "10"), ("C", "14")]
    keys = []
    for side, amount in moves:
        params = put_params(DebitCredit=side, Amount=amount)
        resp = await client.put("/api/Transaction/AddTransactionAsync", params=params, headers=w)
        assert resp.status_code == 202, resp.text
        body = resp.json()
        assert set(body) == {"id", "traceKey"} and body["traceKey"] == params["TraceKey"]
        keys.append((body["id"], body["traceKey"]))
    # lower-case parameter names bind too (ASP.NET binding is case-insensitive)
    lower = {k.lower(): val for k, val in put_params(Amount="0.5").items()}
    resp = await client.put("/api/Transaction/AddTransactionAsync", params=lower, headers=w)
    assert resp.status_code == 202
    keys.append((resp.json()["id"], resp.json()["traceKey"]))
    async with posting_workers(container):
        await wait_decided(container, [k for _, k in keys])

    day = today().isoformat()
    span = {"DateRefStart": day, "DateRefEnd": day}
    acc = {"Branch": "0001", "Account": "000000002"}
    got = await client.get(
        "/api/Transaction/GetTransactionAsync", params={**span, **acc}, headers=r
    )
    assert got.status_code == 200
    rows = got.json()
    assert [row["id"] for row in rows] == [i for i, _ in keys]  # the ids PUT answered
    assert list(rows[0]) == [
        "id",
        "branch",
        "account",
        "amount",
        "debitCredit",
        "eventCode",
        "description",
        "traceKey",
        "details",
        "dateRef",
        "createdAt",
    ]
    assert rows[0]["amount"] == 8 and rows[0]["debitCredit"] == "C" and rows[0]["eventCode"] == 5
    assert b'"amount":8.00' in got.content  # decimals keep their 2 places, as .NET writes them
    assert orjson.loads(rows[0]["details"]) == {"pdv": 3}
    assert rows[0]["dateRef"] == f"{day}T00:00:00" and rows[0]["createdAt"].endswith("Z")

    by_key = await client.get(
        "/api/Transaction/GetTransactionAsync", params={**span, "TraceKey": keys[2][1]}, headers=r
    )
    assert [row["traceKey"] for row in by_key.json()] == [keys[2][1]]

    stmt = await client.get(
        "/api/Transaction/GetTransactionAcumulatedAsync", params={**span, **acc}, headers=r
    )
    assert stmt.status_code == 200
    lines = stmt.json()
    assert list(lines[0]) == [
        "dateRef",
        "eventCode",
        "eventDescription",
        "transactionDescription",
        "beforeBalance",
        "debit",
        "credit",
        "acumulated",
        "createdAt",
        "id",
    ]
    assert [line["acumulated"] for line in lines] == [8, 9, 8, -2, 12, 12.5]
    assert [line["beforeBalance"] for line in lines] == [0, 8, 9, 8, -2, 12]
    assert [line["debit"] for line in lines] == [0, 0, -1, -10, 0, 0]
    assert lines[0]["eventDescription"] == "Transfer"
    assert lines[0]["transactionDescription"] == "venda"

    bal = await client.get("/api/Balance/GetBalanceAsync", params={**span, **acc}, headers=r)
    assert bal.status_code == 200
    [row] = bal.json()
    assert list(row) == [
        "id",
        "branch",
        "account",
        "dateRef",
        "totalDebit",
        "totalCredit",
        "acumulatedDebit",
        "acumulatedCredit",
        "acumulatedBalance",
        "createdAt",
        "traceKey",
    ]
    assert (row["totalDebit"], row["totalCredit"], row["acumulatedBalance"]) == (11, 23.5, 12.5)
    every = await client.get("/api/Balance/GetBalanceAsync", params=span, headers=r)
    assert len(every.json()) == 1


async def test_empty_answers_204(client: httpx.AsyncClient, auth: Auth) -> None:
    r = auth("ledger:read")
    span = {"DateRefStart": "2020-01-01", "DateRefEnd": "2020-01-31"}
    for path in (
        "/api/Transaction/GetTransactionAsync",
        "/api/Transaction/GetTransactionAcumulatedAsync",
        "/api/Balance/GetBalanceAsync",
    ):
        resp = await client.get(path, params={**span, "Branch": "1", "Account": "2"}, headers=r)
        assert resp.status_code == 204 and resp.content == b"", path


async def test_bad_requests_answer_400(client: httpx.AsyncClient, auth: Auth) -> None:
    r = auth("ledger:read")
    cases = [
        ({"DateRefStart": "2025-03-15", "Branch": "1", "Account": "2"}, "CAU-LEDGER-DATE-REQUIRED"),
        ({"DateRefEnd": "2025-03-15"}, "CAU-LEDGER-DATE-REQUIRED"),
        ({"DateRefStart": "2025-03-15", "DateRefEnd": "x"}, "CAU-LEDGER-DATE-INVALID"),
        (
            {"DateRefStart": "2025-03-15", "DateRefEnd": "2025-03-16", "Branch": "1"},
            "CAU-LEDGER-BRANCH-ACCOUNT-PAIR",
        ),
        (
            {"DateRefStart": "2025-03-15", "DateRefEnd": "2025-03-16", "Account": "1"},
            "CAU-LEDGER-BRANCH-ACCOUNT-PAIR",
        ),
    ]
    for path in (
        "/api/Transaction/GetTransactionAsync",
        "/api/Transaction/GetTransactionAcumulatedAsync",
        "/api/Balance/GetBalanceAsync",
    ):
        for params, code in cases:
            resp = await client.get(path, params=params, headers=r)
            assert resp.status_code == 400, (path, params)
            assert resp.json()["code"] == code, (path, params)
    w = auth("ledger:write")
    for overrides, code in (
        ({"DebitCredit": "X"}, v.DEBITCREDIT_INVALID),
        ({"Amount": "0"}, v.AMOUNT_NOT_POSITIVE),
        ({"Details": "{not json"}, v.DETAILS_INVALID_JSON),
        ({"Details": "[1]"}, v.DETAILS_NOT_OBJECT),
        ({"TraceKey": "abc"}, v.TRACEKEY_INVALID),
        ({"Description": "x" * 201}, v.DESCRIPTION_TOO_LONG),
        ({"DateRef": (today() - timedelta(days=30)).isoformat()}, v.DATEREF_TOO_OLD),
    ):
        resp = await client.put(
            "/api/Transaction/AddTransactionAsync", params=put_params(**overrides), headers=w
        )
        assert resp.status_code == 400, overrides
        assert resp.json()["code"] == code
    params = put_params()
    first = await client.put("/api/Transaction/AddTransactionAsync", params=params, headers=w)
    clash = await client.put(
        "/api/Transaction/AddTransactionAsync", params=dict(params, Amount="9"), headers=w
    )
    assert first.status_code == 202 and clash.status_code == 409
    again = await client.put("/api/Transaction/AddTransactionAsync", params=params, headers=w)
    assert again.json() == first.json()


async def test_flowapi_routes_need_ledger_scopes(client: httpx.AsyncClient, auth: Auth) -> None:
    put = await client.put(
        "/api/Transaction/AddTransactionAsync", params=put_params(), headers=auth("ledger:read")
    )
    assert put.status_code == 403
    get = await client.get(
        "/api/Balance/GetBalanceAsync",
        params={"DateRefStart": "2025-01-01", "DateRefEnd": "2025-01-02"},
        headers=auth("ledger:write"),
    )
    assert get.status_code == 403
    assert (await client.get("/api/Balance/GetBalanceAsync")).status_code == 401
