"""NUL (`%00`) in a query parameter, a path parameter, a header or a form field: 400
CAU-REQ-NUL naming it; `\\u0000` in a JSON body: 422 CAU-REQ-NUL `body`. Before any route:
PostgreSQL text and jsonb cannot hold NUL, and these were 500s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.integration.hostile.conftest import assert_problem

NUL = "CAU-REQ-NUL"


CASES = [
    ("/v1/quarantine?type=a%00", "query.type"),
    ("/v1/monitor/events?device=a%00", "query.device"),
    ("/v1/monitor/rates?since=1h&platform=%00", "query.platform"),
    ("/v1/audit?subject=a%00", "query.subject"),
    ("/clientes?nome=Maria%00", "query.nome"),
    ("/v1/ledger/accounts/a%00/b/balance", "path.branch"),
    ("/v1/ledger/accounts/0001/b%00/statement", "path.account"),
    ("/v1/schemas/click%00", "path.event_type"),
    ("/api/Balance/GetBalanceAsync?DateRefStart=2024-01-01&Branch=%00", "query.Branch"),
    ("/v1/pipelines/runs?pipeline=user%00carts", "query.pipeline"),
    ("/v1/quarantine?ty%00pe=a", "query.ty\\u0000pe"),
]


async def test_nul_in_query_or_path(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    for url, field in CASES:
        assert_problem(await client.get(url, headers=auth()), 400, NUL, field)


async def test_nul_in_a_header(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    headers = [*auth().items(), ("Idempotency-Key", "a\x00b")]
    request = client.build_request("POST", "/v1/events/backend", headers=headers, content=b"{}")
    assert_problem(await client.send(request), 400, NUL, "header.idempotency-key")


async def test_nul_in_a_form_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/login",
        content=b"csrf=a%00&token=x&next=/",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "http://caudal.test",
        },
    )
    assert_problem(response, 400, NUL, "form.csrf")


async def test_a_request_without_nul_still_works(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.get("/v1/quarantine?type=a%2500", headers=auth())  # "%00" as text
    assert response.status_code == 200, response.text


async def test_nul_in_a_json_body(
    client: httpx.AsyncClient,
    auth: Callable[..., dict[str, str]],
    make_impact: Callable[..., dict[str, Any]],
) -> None:
    bodies = [
        ("POST", "/v1/ledger/impacts", make_impact(description="a\u0000b")),
        ("POST", "/v1/ledger/impacts", make_impact(details={"k\u0000": 1})),
        ("POST", "/v1/ledger/event-codes", {"code": 77, "description": "x\u0000"}),
        ("POST", "/v1/schemas", {"type": "t", "version": "1.0", "schema": {"title": "\u0000"}}),
        ("POST", "/clientes", {"nome": "Ana\u0000Maria"}),
    ]
    for method, url, body in bodies:
        response = await client.request(method, url, json=body, headers=auth())
        assert_problem(response, 422, NUL, "body")
    response = await client.post("/v1/ledger/impacts", json=make_impact(), headers=auth())
    assert response.status_code == 202, response.text
