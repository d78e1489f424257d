"""Numbers: one strict ASCII decimal grammar for every amount (ledger `/v1` and FlowApi,
customers `dividas.valor`, score-data `valor`), and event data limited to what the lake keeps
exactly (integers within ±2^63, finite numbers). 29+ digits and `1e30` were 500s; `"１２"`,
`"1_000"`, `" 1.00"` and `"1E+2"` were accepted."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.integration.customers.conftest import cliente
from tests.integration.hostile.conftest import assert_problem

Auth = Callable[..., dict[str, str]]
HOSTILE_AMOUNTS: list[Any] = ["１２", "1_000", " 1.00", "1.00 ", "1E+2", "1" * 29, 1e30, 10**30]
AMOUNT = "CAU-LEDGER-AMOUNT-INVALID"


# One app per test, every hostile value in it: a database per value would cost seconds each.


async def test_ledger_v1_amount(
    client: httpx.AsyncClient, auth: Auth, make_impact: Callable[..., dict[str, Any]]
) -> None:
    for amount in HOSTILE_AMOUNTS:
        body = make_impact(amount=amount)
        response = await client.post("/v1/ledger/impacts", json=body, headers=auth())
        assert_problem(response, 422, AMOUNT, "amount")
    response = await client.post(
        "/v1/ledger/impacts", json=make_impact(amount="12.50"), headers=auth()
    )
    assert response.status_code == 202, response.text


async def test_flowapi_amount(client: httpx.AsyncClient, auth: Auth) -> None:
    for amount in [a for a in HOSTILE_AMOUNTS if isinstance(a, str)]:
        await _flowapi_refuses(client, auth, amount)


async def _flowapi_refuses(client: httpx.AsyncClient, auth: Auth, amount: str) -> None:
    params = {
        "Branch": "0001",
        "Account": "000000002",
        "Amount": amount,
        "DebitCredit": "C",
        "EventCode": "5",
        "TraceKey": str(uuid.uuid4()),
        "DateRef": datetime.now(UTC).date().isoformat(),
    }
    response = await client.put(
        "/api/Transaction/AddTransactionAsync", params=params, headers=auth()
    )
    assert_problem(response, 400, AMOUNT, "amount")


async def test_customer_dividas_and_score_data_valor(client: httpx.AsyncClient, auth: Auth) -> None:
    created = await client.post("/clientes", json=cliente(), headers=auth())
    assert created.status_code == 201, created.text
    for valor in HOSTILE_AMOUNTS:
        debt = {"empresa": "Banco Azul", "valor": valor, "vencimento": "2041-05-10"}
        response = await client.post("/clientes", json=cliente(dividas=[debt]), headers=auth())
        assert_problem(response, 422, "CAU-CUSTOMERS-INVALID-VALOR", "dividas.0.valor")
        income = {"tipo": "salario", "descricao": "CLT", "valor": valor, "frequencia": "mensal"}
        response = await client.put(
            f"/clientes/{created.json()['id']}/score-data",
            json={"fontes_de_renda": [income]},
            headers=auth(),
        )
        assert_problem(response, 422, "CAU-CUSTOMERS-INVALID-VALOR", "fontes_de_renda.0.valor")


def backend(data_json: str) -> bytes:
    return (
        b'{"eventType": "selfie-uploaded", "eventDateTime": "2020-10-12T21:38:43-0300", '
        b'"version": "1.0", "data": ' + data_json.encode() + b"}"
    )


OUT_OF_RANGE = [
    ('{"selfield": "x", "n": 18446744073709551616}', "data.n"),  # 2^64: orjson made a float
    ('{"selfield": "x", "n": 9223372036854775808}', "data.n"),  # 2^63
    ('{"selfield": "x", "n": -9223372036854775809}', "data.n"),
    (
        '{"selfield": "x", "deep": {"list": [1, 123456789012345678901234567890]}}',
        "data.deep.list[1]",
    ),
    ('{"selfield": "x", "n": 1e400}', "body"),
    ('{"selfield": "x", "n": ' + "9" * 5000 + "}", "body"),
]
IN_RANGE = [
    '{"selfield": "x", "n": 9223372036854775807}',
    '{"selfield": "x", "n": -9223372036854775808}',
    '{"selfield": "x", "n": 1e19}',  # a float, written as one: kept as a float
    '{"selfield": "x", "n": 1.5}',
]


async def test_event_numbers_beyond_int64_or_not_finite(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    headers = {**auth(), "Content-Type": "application/json"}
    for data, field in OUT_OF_RANGE:
        response = await client.post("/v1/events/backend", content=backend(data), headers=headers)
        assert_problem(response, 422, "CAU-EVT-NUMBER-RANGE", field)
    for data in IN_RANGE:
        response = await client.post("/v1/events/backend", content=backend(data), headers=headers)
        assert response.status_code == 202, response.text
