"""`GET /clientes/{cpf}/consultar` served from the app's entry (`platform.http.direct`, a route
with a parameter) answers exactly as FastAPI's own stack does, against one database: bodies,
problem+json errors, access-log lines and metric series (`tests/support/direct_routes.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import orjson
import pytest
from fastapi import FastAPI

from caudal.customers.base_c.sink import CustomersActivitySink
from caudal.customers.context import customers_of
from caudal.platform.bootstrap import Container
from tests.integration.customers.conftest import CPF_1, CPF_2
from tests.integration.customers.test_base_c import compra, consulta
from tests.support.direct_routes import Clients, both_paths, same

Auth = Callable[..., dict[str, str]]
TRACE = {"X-Trace-Key": "consultar-equivalence"}
ROUTE = "/clientes/{cpf}/consultar"


@pytest.fixture
async def both(app: FastAPI, container: Container) -> AsyncIterator[Clients]:
    async with both_paths(app, {("GET", ROUTE)}) as clients:
        sink = CustomersActivitySink(customers_of(container))  # the started app's
        await sink.write(
            [consulta("e1", "2026-01-10T09:00:00-03:00"), compra("e2", "2026-01-12", 10)]
        )
        yield clients


async def test_consultar_answers_alike(both: Clients, auth: Auth) -> None:
    reader = {**auth("customers:activity"), **TRACE}
    formatted = f"{CPF_1[:3]}.{CPF_1[3:6]}.{CPF_1[6:9]}-{CPF_1[9:]}"
    found = await same(both, method="GET", url=f"/clientes/{CPF_1}/consultar", headers=reader)
    assert found["status"] == 200
    assert orjson.loads(found["body"])["ultima_consulta"]["empresa"] == "Banco X"
    assert found["log"]["route"] == ROUTE  # the template: never the CPF
    again = await same(both, method="GET", url=f"/clientes/{formatted}/consultar", headers=reader)
    assert again["body"] == found["body"]
    cases = [
        (404, f"/clientes/{CPF_2}/consultar", reader),  # no activity
        (422, "/clientes/12345678900/consultar", reader),  # check digits
        (401, f"/clientes/{CPF_1}/consultar", TRACE),
        (403, f"/clientes/{CPF_1}/consultar", {**auth("customers:read"), **TRACE}),
        (307, f"/clientes/{CPF_1}/consultar/", reader),
        (404, "/clientes//consultar", reader),
        (404, f"/clientes/{CPF_1[:3]}%2F{CPF_1[3:]}/consultar", reader),  # a decoded `/`
        (400, f"/clientes/{CPF_1}%00/consultar", reader),  # a NUL
    ]
    for expected, url, headers in cases:
        answer = await same(both, method="GET", url=url, headers=headers)
        assert answer["status"] == expected, (url, answer)
    for method in ("POST", "HEAD", "DELETE"):
        answer = await same(both, method=method, url=f"/clientes/{CPF_1}/consultar", headers=reader)
        assert answer["status"] == 405
