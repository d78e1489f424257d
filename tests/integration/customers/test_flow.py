"""Seed 001's flow for real: backend events posted to `/v1/events/backend` travel the bus and the
router (routes.yaml) to the `customers.activity` worker, and Base A's own events (outbox) reach
Bases B and C the same way — erasure included."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import psycopg
import pytest

from caudal.platform import capability
from caudal.platform.bootstrap import Container
from caudal.platform.capability import Capability
from caudal.platform.runtime import ServiceGroup
from caudal.platform.settings import Settings
from tests.integration.customers.conftest import CPF_1, cliente

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    fast_bus = settings.bus.model_copy(update={"poll_interval_seconds": 0.05})
    return settings.model_copy(update={"bus": fast_bus})


@pytest.fixture
async def activity_worker(
    client: httpx.AsyncClient, container: Container, capabilities: list[Capability[object]]
) -> AsyncIterator[None]:
    """The `customers.activity` consumer group, as `caudal worker --group customers.activity`
    runs it (the app's lifespan, entered by `client`, has started the router)."""
    services = capability.services(
        capabilities, container.bus, frozenset({"worker"}), frozenset({"customers.activity"})
    )
    assert [s.name for s in services]  # the group exists
    group = ServiceGroup(services)
    await group.start()
    try:
        yield
    finally:
        await group.stop(10)


async def eventually(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def backend(event_type: str, when: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"eventType": event_type, "eventDateTime": when, "version": "1.0", "data": data}


async def test_backend_events_reach_consultar_through_the_bus_and_router(
    client: httpx.AsyncClient, auth: Auth, activity_worker: None
) -> None:
    writer = auth("events:write")
    cpf = f"{CPF_1[:3]}.{CPF_1[3:6]}.{CPF_1[6:9]}-{CPF_1[9:]}"
    posts = [
        backend(
            "bureau-query",
            "2026-01-10T09:00:00-0300",
            {
                "cpf": cpf,
                "empresa": "Banco X",
                "data_consulta": "2026-01-10T09:00:00-03:00",
                "tipo_empresa": "banco",
            },
        ),
        backend(
            "financial-movement",
            "2026-01-11T10:00:00-0300",
            {
                "cpf": CPF_1,
                "tipo_movimentacao": "pix_recebido",
                "data_movimentacao": "2026-01-11T10:00:00-0300",
                "valor": "2500.10",
                "descricao": "salário",
            },
        ),
        backend(
            "card-purchase",
            "2026-01-12T11:30:00-0300",
            {
                "cpf": CPF_1,
                "data_compra": "2026-01-12T11:30:00-03:00",
                "valor": 4599.9,
                "bandeira_cartao": "visa",
                "produto": "geladeira",
                "tipo": "credito",
                "codigo_transacao": "TX-991",
            },
        ),
        # arrives last but happened first: must not replace the newer purchase
        backend(
            "card-purchase",
            "2026-01-05T08:00:00-0300",
            {
                "cpf": CPF_1,
                "data_compra": "2026-01-05T08:00:00-03:00",
                "valor": "10.00",
                "bandeira_cartao": "master",
                "produto": "café",
                "tipo": "debito",
                "codigo_transacao": "TX-100",
            },
        ),
    ]
    for body in posts:
        response = await client.post("/v1/events/backend", json=body, headers=writer)
        assert response.status_code == 202, response.text

    reader = auth("customers:activity")

    async def projected() -> bool:
        timeline = await client.get(f"/clientes/{CPF_1}/eventos", headers=reader)
        return timeline.status_code == 200 and timeline.json()["count"] == 4

    await eventually(projected, "the four events in the timeline")
    body = (await client.get(f"/clientes/{CPF_1}/consultar", headers=reader)).json()
    assert body == {
        "ultima_consulta": {
            "empresa": "Banco X",
            "data_consulta": "2026-01-10T09:00:00-03:00",
            "tipo_empresa": "banco",
        },
        "movimentacao_financeira": {
            "tipo_movimentacao": "pix_recebido",
            "data_movimentacao": "2026-01-11T10:00:00-0300",
            "valor": 2500.1,
            "descricao": "salário",
        },
        "ultima_compra": {
            "data_compra": "2026-01-12T11:30:00-03:00",
            "valor": 4599.9,
            "bandeira_cartao": "visa",
            "produto": "geladeira",
            "tipo": "credito",
            "codigo_transacao": "TX-991",
        },
    }


async def test_erasure_reaches_bases_b_and_c_through_the_router(
    client: httpx.AsyncClient, auth: Auth, container: Container, activity_worker: None
) -> None:
    pii = auth("customers:pii")
    cid = (await client.post("/clientes", json=cliente(), headers=pii)).json()["id"]
    await client.put(
        f"/clientes/{cid}/score-data",
        json={"bens": [{"tipo": "carro", "valor_estimado": 1000, "descricao": ""}]},
        headers=auth("customers:score"),
    )
    response = await client.post(
        "/v1/events/backend",
        json=backend(
            "bureau-query",
            "2026-01-10T09:00:00-0300",
            {
                "cpf": CPF_1,
                "empresa": "Banco X",
                "data_consulta": "2026-01-10",
                "tipo_empresa": "banco",
            },
        ),
        headers=auth("events:write"),
    )
    assert response.status_code == 202
    reader = auth("customers:activity")

    async def has_activity() -> bool:
        return (await client.get(f"/clientes/{CPF_1}/consultar", headers=reader)).status_code == 200

    await eventually(has_activity, "the bureau query in Base C")

    assert (await client.delete(f"/clientes/{cid}", headers=pii)).status_code == 204

    def counts() -> tuple[int, int, int]:
        with psycopg.connect(container.owner_url) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM base_b.score_data),"
                " (SELECT count(*) FROM base_c.activity), (SELECT count(*) FROM base_c.events)"
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    async def erased_everywhere() -> bool:
        return counts() == (0, 0, 0)

    await eventually(erased_everywhere, "Bases B and C to drop the erased customer's rows")
    gone = await client.get(f"/clientes/{CPF_1}/consultar", headers=reader)
    assert gone.status_code == 404
