"""Moments whose UTC offset carries them past year 9999 (`9999-12-31T23:00:00-14:00`) or before
year 1: 400/422 naming the field (they were 500s: `astimezone` overflowed)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.integration.hostile.conftest import assert_problem

Auth = Callable[..., dict[str, str]]
LATE = "9999-12-31T23:00:00-14:00"
EARLY = "0001-01-01T00:30:00+01:00"


async def test_event_times(client: httpx.AsyncClient, auth: Auth) -> None:
    for moment in (LATE, EARLY):
        backend = {
            "eventType": "selfie-uploaded",
            "eventDateTime": moment,
            "version": "1.0",
            "data": {"selfield": "x"},
        }
        response = await client.post("/v1/events/backend", json=backend, headers=auth())
        problem = assert_problem(response, 422, "CAU-EVT-REJECTED", "eventDateTime")
        assert problem["rejected"][0]["code"] == "CAU-EVT-TIMESTAMP"
        frontend = {
            "device": {"platform": "Android", "deviceId": "d1"},
            "data": [{"timestamp": moment, "event_id": "click_help"}],
        }
        response = await client.post("/v1/events/frontend", json=frontend, headers=auth())
        assert_problem(response, 422, "CAU-EVT-REJECTED", "data[0].timestamp")


async def test_monitor_times(client: httpx.AsyncClient, auth: Auth) -> None:
    for url, field in (
        ("/v1/monitor/rates", "since"),
        ("/v1/monitor/events", "from"),
        ("/v1/monitor/events", "to"),
    ):
        response = await client.get(url, params={field: LATE}, headers=auth())
        assert_problem(response, 422, "CAU-MON-TIME", field)


async def test_ledger_dates(
    client: httpx.AsyncClient, auth: Auth, make_impact: Callable[..., dict[str, Any]]
) -> None:
    response = await client.post(
        "/v1/ledger/impacts", json=make_impact(dateref=LATE), headers=auth()
    )
    assert_problem(response, 422, "CAU-LEDGER-DATEREF-INVALID", "dateref")
    response = await client.get(
        "/v1/ledger/accounts/0001/000000001/balance", params={"date": LATE}, headers=auth()
    )
    assert_problem(response, 422, "CAU-LEDGER-DATE-INVALID", "date")


async def test_flowapi_dates(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.get(
        "/api/Balance/GetBalanceAsync",
        params={"DateRefStart": LATE, "DateRefEnd": "2024-01-01"},
        headers=auth(),
    )
    assert_problem(response, 400, "CAU-LEDGER-DATE-INVALID", "DateRefStart")
    params = {
        "Branch": "0001",
        "Account": "000000002",
        "Amount": "8",
        "DebitCredit": "C",
        "EventCode": "5",
        "TraceKey": str(uuid.uuid4()),
        "DateRef": LATE,
    }
    response = await client.put(
        "/api/Transaction/AddTransactionAsync", params=params, headers=auth()
    )
    assert_problem(response, 400, "CAU-LEDGER-DATEREF-INVALID", "dateref")


async def test_quarantine_window(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.get("/v1/quarantine", params={"since": LATE}, headers=auth())
    assert response.status_code < 500, response.text
