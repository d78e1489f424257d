"""Customer lookup pages: clear with `customers:pii`, masked with `customers:score` alone."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable

import httpx
import pytest

from caudal.demo.traffic import cpf
from tests.integration.web.conftest import page_csrf

SignIn = Callable[..., Awaitable[httpx.Response]]


async def create_customer(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    person = cpf(random.Random(99))
    response = await client.post(
        "/clientes",
        headers=headers,
        json={
            "nome": "Joana Prado Vieira",
            "cpf": person,
            "data_nascimento": "1990-02-03",
            "endereco": {"uf": "RJ", "cidade": "Niterói", "longadouro": "Rua Gavião Peixoto"},
        },
    )
    assert response.status_code == 201, response.text
    return person


async def look_up(client: httpx.AsyncClient, person: str) -> httpx.Response:
    form = await client.get("/customers")
    assert form.status_code == 200
    return await client.post("/customers", data={"csrf": page_csrf(form.text), "cpf": person})


async def test_pii_scope_sees_the_record_in_clear(
    client: httpx.AsyncClient, signed_in: SignIn, auth: Callable[..., dict[str, str]]
) -> None:
    person = await create_customer(client, auth())
    await signed_in("customers:pii", "customers:score", "customers:activity")
    page = await look_up(client, person)
    assert page.status_code == 200
    assert "Joana Prado Vieira" in page.text
    assert f"{person[:3]}.{person[3:6]}.{person[6:9]}-{person[9:]}" in page.text
    assert "Rua Gavião Peixoto" in page.text
    assert 'id="pii-masked"' not in page.text
    assert 'id="score-value"' in page.text


async def test_score_scope_alone_sees_it_masked_and_the_read_is_audited(
    client: httpx.AsyncClient, signed_in: SignIn, auth: Callable[..., dict[str, str]]
) -> None:
    person = await create_customer(client, auth())
    await signed_in("customers:score", subject="analyst-7")
    page = await look_up(client, person)
    assert page.status_code == 200
    assert 'id="pii-masked"' in page.text
    record = page.text.split('id="customer-record"', 1)[1].split("</section>", 1)[0]
    assert f"***.{person[3:6]}.{person[6:9]}-**" in record
    assert "Prado" not in record and "Vieira" not in record
    assert "Gavião" not in record
    assert person not in record
    assert 'id="score-value"' in page.text
    audit = await client.get("/v1/audit", headers=auth("audit:read"))
    assert audit.status_code == 200
    assert "analyst-7" in audit.text


async def test_no_customers_scope_sees_no_record(
    client: httpx.AsyncClient, signed_in: SignIn, auth: Callable[..., dict[str, str]]
) -> None:
    person = await create_customer(client, auth())
    await signed_in("monitor:read")
    page = await look_up(client, person)
    assert "lacks the scope &#39;customers:pii&#39;" in page.text
    assert 'id="customer-record"' not in page.text
    assert "Joana" not in page.text


async def test_lookup_needs_the_csrf_token(client: httpx.AsyncClient, signed_in: SignIn) -> None:
    await signed_in()
    refused = await client.post("/customers", data={"csrf": "forged", "cpf": "12345678909"})
    assert refused.status_code == 403
    assert "Lookup refused" in refused.text


async def test_a_lookup_writes_no_cpf_to_any_log(
    client: httpx.AsyncClient,
    signed_in: SignIn,
    auth: Callable[..., dict[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    person = await create_customer(client, auth())
    await signed_in()
    caplog.set_level(logging.DEBUG)
    page = await look_up(client, person)
    assert 'id="customer-record"' in page.text
    assert caplog.records  # the capture works: the lookup's requests were logged
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert person not in logged
    assert f"{person[:3]}.{person[3:6]}" not in logged
