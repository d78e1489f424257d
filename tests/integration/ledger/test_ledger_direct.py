"""The ledger's intake and seed 003's FlowApi routes, served from the app's entry
(`platform.http.direct`), answer exactly as FastAPI's own stack does against one database:
bodies, problem+json errors, access-log lines and metric series (`tests/support/direct_routes.py`).
A write sent twice is the same write (its tracekey): the second answer is the replay's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from fastapi import FastAPI

from tests.integration.ledger.conftest import posting_workers, today, wait_decided
from tests.integration.ledger.test_flowapi import put_params
from tests.support.direct_routes import Clients, both_paths, same

Auth = Callable[..., dict[str, str]]
TRACE = {"X-Trace-Key": "ledger-equivalence"}
ADD = "/api/Transaction/AddTransactionAsync"
READS = [
    "/api/Transaction/GetTransactionAsync",
    "/api/Transaction/GetTransactionAcumulatedAsync",
    "/api/Balance/GetBalanceAsync",
]
IMPACTS = "/v1/ledger/impacts"


@pytest.fixture
async def both(app: FastAPI) -> AsyncIterator[Clients]:
    served = {("PUT", ADD), ("POST", IMPACTS)} | {("GET", path) for path in READS}
    async with both_paths(app, served) as clients:
        yield clients


async def test_writes_answer_alike(
    both: Clients, auth: Auth, make_impact: Callable[..., dict[str, Any]]
) -> None:
    writer = {**auth("ledger:write"), **TRACE}
    added = await same(both, method="PUT", url=ADD, params=put_params(), headers=writer)
    assert added["status"] == 202 and added["log"]["route"] == ADD
    cases: list[tuple[int, dict[str, Any]]] = [
        (400, {"params": put_params(Amount="ten")}),
        (400, {"params": {k: v for k, v in put_params().items() if k != "Branch"}}),
        (401, {"params": put_params(), "headers": TRACE}),
        (403, {"params": put_params(), "headers": {**auth("ledger:read"), **TRACE}}),
    ]
    for expected, request in cases:
        answer = await same(both, method="PUT", url=ADD, **{"headers": writer, **request})
        assert answer["status"] == expected, answer
    clash = put_params()
    await same(both, method="PUT", url=ADD, params=clash, headers=writer)
    reused = await same(
        both, method="PUT", url=ADD, params={**clash, "Amount": "9"}, headers=writer
    )
    assert reused["status"] == 409

    one = orjson.dumps(make_impact())
    batch = orjson.dumps([make_impact(), make_impact(amount="-1")])
    for expected, body in [(202, one), (202, batch), (400, b"{no"), (422, b'{"amount": 1}')]:
        answer = await same(both, method="POST", url=IMPACTS, headers=writer, content=body)
        assert answer["status"] == expected, answer
    for method in ("GET", "DELETE"):
        assert (await same(both, method=method, url=ADD, headers=writer))["status"] == 405


async def test_flowapi_reads_answer_alike(both: Clients, auth: Auth, container: Any) -> None:
    writer, reader = {**auth("ledger:write"), **TRACE}, {**auth("ledger:read"), **TRACE}
    keys = []
    for side, amount in [("C", "8"), ("D", "3")]:
        params = put_params(DebitCredit=side, Amount=amount)
        keys.append(params["TraceKey"])
        assert (await both[0].put(ADD, params=params, headers=writer)).status_code == 202
    async with posting_workers(container):
        await wait_decided(container, keys)
    day = today().isoformat()
    account = {"Branch": "0001", "Account": "000000002"}
    for path in READS:
        rows = await same(
            both,
            method="GET",
            url=path,
            params={"DateRefStart": day, "DateRefEnd": day, **account},
            headers=reader,
        )
        assert rows["status"] == 200 and orjson.loads(rows["body"]), (path, rows)
        for expected, params in [
            (204, {"DateRefStart": "2001-01-01", "DateRefEnd": "2001-01-02", **account}),
            (400, {"DateRefStart": "yesterday", "DateRefEnd": day}),
            (400, {"DateRefEnd": day}),
            (200, {"daterefstart": day, "daterefend": day, **account}),  # any case binds
        ]:
            answer = await same(both, method="GET", url=path, params=params, headers=reader)
            assert answer["status"] == expected, (path, params, answer)
        denied = await same(both, method="GET", url=path, headers={**auth("ledger:write"), **TRACE})
        assert denied["status"] == 403
