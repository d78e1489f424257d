"""Base B over HTTP: score-data shape, the explainable score, and cache invalidation against
the in-process cache and a real Redis server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from pydantic import SecretStr

from caudal import wiring
from caudal.bus.adapters import build_bus
from caudal.customers.base_c.sink import CustomersActivitySink
from caudal.customers.context import customers_of
from caudal.events.model import CanonicalEvent
from caudal.platform.bootstrap import Container, bootstrap
from caudal.platform.http.app import create_app
from caudal.platform.settings import Settings
from tests.integration.customers.conftest import CPF_1, cliente
from tests.integration.customers.redis_server import redis_server

Auth = Callable[..., dict[str, str]]

SCORE_DATA = {
    "fontes_de_renda": [
        {"tipo": "salario", "descricao": "CLT", "valor": 5000.0, "frequencia": "mensal"},
        {"tipo": "aluguel", "descricao": "apartamento", "valor": "1200.00", "frequencia": "mensal"},
    ],
    "bens": [
        {"tipo": "imovel", "valor_estimado": 350000.0, "descricao": "apartamento"},
        {"tipo": "veiculo", "valor_estimado": 45000, "descricao": "carro"},
    ],
}


async def new_customer(client: httpx.AsyncClient, auth: Auth, **extra: Any) -> str:
    response = await client.post("/clientes", json=cliente(**extra), headers=auth("customers:pii"))
    assert response.status_code == 201
    return str(response.json()["id"])


async def test_score_data_has_exactly_seed_002_shape(client: httpx.AsyncClient, auth: Auth) -> None:
    cid = await new_customer(client, auth)
    h = auth("customers:score")
    empty = await client.get(f"/clientes/{cid}/score-data", headers=h)
    assert empty.status_code == 200
    assert empty.json()["fontes_de_renda"] == [] and empty.json()["bens"] == []
    put = await client.put(f"/clientes/{cid}/score-data", json=SCORE_DATA, headers=h)
    assert put.status_code == 200
    got = (await client.get(f"/clientes/{cid}/score-data", headers=h)).json()
    assert got == put.json()
    assert list(got) == ["cpf", "data_nascimento", "endereco", "fontes_de_renda", "bens"]
    assert got["cpf"] == "123.456.789-09"
    assert got["data_nascimento"] == "1985-03-14"
    assert set(got["endereco"]) == {"uf", "cidade", "bairro", "longadouro", "numero", "complemento"}
    assert got["fontes_de_renda"] == [
        {"tipo": "salario", "descricao": "CLT", "valor": 5000.0, "frequencia": "mensal"},
        {"tipo": "aluguel", "descricao": "apartamento", "valor": 1200.0, "frequencia": "mensal"},
    ]
    assert got["bens"][0] == {
        "tipo": "imovel",
        "valor_estimado": 350000.0,
        "descricao": "apartamento",
    }
    bad = await client.put(
        f"/clientes/{cid}/score-data",
        json={"fontes_de_renda": [{"tipo": "x", "valor": 1, "frequencia": "sometimes"}]},
        headers=h,
    )
    assert bad.status_code == 422 and bad.json()["code"] == "CAU-CUSTOMERS-INVALID-FREQUENCIA"
    unknown = await client.get(
        "/clientes/00000000-0000-0000-0000-000000000000/score-data", headers=h
    )
    assert unknown.status_code == 404


def bureau_query(event_id: str, when: str) -> CanonicalEvent:
    now = datetime.now(UTC)
    return CanonicalEvent(
        id=event_id,
        source="backend",
        type="bureau-query",
        version="1.0",
        occurred_at=now,
        received_at=now,
        data={"cpf": CPF_1, "empresa": "Loja X", "data_consulta": when, "tipo_empresa": "varejo"},
    )


async def check_score_and_invalidation(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> str:
    """The scorecard value, a cache hit on the second read, and a miss after each input change
    (score data, a debt in Base A, a bureau query in Base C)."""
    forty = f"{datetime.now(UTC).year - 41}-01-01"  # 40 or 41 years old: IDADE 120
    cid = await new_customer(client, auth, data_nascimento=forty)
    h = auth("customers:score")
    await client.put(f"/clientes/{cid}/score-data", json=SCORE_DATA, headers=h)
    first = await client.get(f"/clientes/{cid}/score", headers=h)
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"
    body = first.json()
    # 80 + IDADE 120 + RENDA 230 (6200/month) + BENS 150 (395k) + DIVIDAS 170 (1620.25 vs
    # 74400/year, none overdue) + CONSULTAS 160 (none)
    assert body["score"] == 910
    assert body["faixa"] == "excelente"
    assert body["motivos"] == ["BENS", "DIVIDAS", "RENDA"]
    assert {f["codigo"]: f["pontos"] for f in body["fatores"]} == {
        "IDADE": 120,
        "RENDA": 230,
        "BENS": 150,
        "DIVIDAS": 170,
        "CONSULTAS": 160,
    }
    second = await client.get(f"/clientes/{cid}/score", headers=h)
    assert second.headers["x-cache"] == "hit" and second.json() == body

    # score data changes: income drops to 2000/month -> RENDA 120, DIVIDAS ratio 0.0675 -> 170
    lower = {**SCORE_DATA, "fontes_de_renda": [SCORE_DATA["fontes_de_renda"][0] | {"valor": 2000}]}
    await client.put(f"/clientes/{cid}/score-data", json=lower, headers=h)
    third = await client.get(f"/clientes/{cid}/score", headers=h)
    assert third.headers["x-cache"] == "miss" and third.json()["score"] == 910 - 110

    # a debt added in Base A: 1620.25 + 20000 over 24000/year -> ratio 0.9 -> DIVIDAS 0
    await client.post(
        f"/clientes/{cid}/dividas",
        json={"empresa": "Financeira", "valor": 20000, "vencimento": "2045-01-01"},
        headers=auth("customers:pii"),
    )
    fourth = await client.get(f"/clientes/{cid}/score", headers=h)
    assert fourth.headers["x-cache"] == "miss" and fourth.json()["score"] == 800 - 170

    # a bureau query arrives in Base C -> CONSULTAS 120
    sink = CustomersActivitySink(customers_of(container))
    await sink.write([bureau_query("bq-1", datetime.now(UTC).date().isoformat())])
    fifth = await client.get(f"/clientes/{cid}/score", headers=h)
    assert fifth.headers["x-cache"] == "miss" and fifth.json()["score"] == 630 - 40
    sixth = await client.get(f"/clientes/{cid}/score", headers=h)
    assert sixth.headers["x-cache"] == "hit"
    return cid


async def test_score_with_the_in_process_cache(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    await check_score_and_invalidation(client, auth, container)


@pytest.fixture
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def redis_container(settings: Settings, redis_url: str) -> Container:
    configured = settings.model_copy(update={"redis_url": SecretStr(redis_url)})
    return bootstrap(configured, bus=build_bus, migrate=False, configure_logging=False)


@pytest.fixture
async def redis_client(redis_container: Container) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(redis_container, wiring.capabilities())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://caudal.test"
        ) as http,
    ):
        yield http


async def test_score_cache_invalidation_against_a_real_redis(
    redis_client: httpx.AsyncClient,
    redis_container: Container,
    redis_url: str,
    token: Callable[..., str],
) -> None:
    from caudal.customers.score.cache_redis import RedisScoreCache

    def auth(*scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {redis_container.tokens.mint('tester', scopes, 600)}"}

    assert isinstance(customers_of(redis_container).cache, RedisScoreCache)
    cid = await check_score_and_invalidation(redis_client, auth, redis_container)
    direct = aioredis.Redis.from_url(redis_url)
    try:
        stored: Any = await direct.get(f"caudal:customers:score:{cid}")
        assert stored is not None and b'"score":590' in stored
        assert int(await direct.get(f"caudal:customers:score:{cid}:gen")) == 4
        # another process (a worker) invalidates: the API sees the change at once
        worker_cache = RedisScoreCache(redis_url)
        await worker_cache.invalidate([cid])
        await worker_cache.close()
        assert await direct.get(f"caudal:customers:score:{cid}") is None
    finally:
        await direct.aclose()
    again = await redis_client.get(f"/clientes/{cid}/score", headers=auth("customers:score"))
    assert again.headers["x-cache"] == "miss"


async def test_a_stale_computation_is_not_cached_after_an_invalidation(redis_url: str) -> None:
    from caudal.customers.score.cache_memory import MemoryScoreCache
    from caudal.customers.score.cache_redis import RedisScoreCache

    for cache in (MemoryScoreCache(), RedisScoreCache(redis_url)):
        generation = await cache.generation("c1")
        await cache.invalidate(["c1"])  # inputs changed while the old score was computed
        assert await cache.put("c1", {"score": 1}, generation, 60) is False
        assert await cache.get("c1") is None
        assert await cache.put("c1", {"score": 2}, await cache.generation("c1"), 60) is True
        assert await cache.get("c1") == {"score": 2}
        await cache.close()
