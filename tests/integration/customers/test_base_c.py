"""Base C: projections written by the `customers.activity` sink into PostgreSQL and read over
HTTP — seed 002's /consultar shape, late events, redelivery, timeline, erasure."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from caudal import wiring
from caudal.bus.adapters import build_bus
from caudal.customers.base_c.projection import KINDS, present_block
from caudal.customers.base_c.sink import CustomersActivitySink
from caudal.customers.context import customers_of
from caudal.customers.events import ERASED, customer_event
from caudal.events.model import CanonicalEvent
from caudal.platform.bootstrap import Container, bootstrap
from caudal.platform.db import migrations
from caudal.platform.http.app import create_app
from caudal.platform.settings import Settings
from tests.conftest import settings_for
from tests.integration.customers.conftest import CPF_1, CPF_2, cliente
from tests.support.postgres import PostgresCluster, migrate_without

Auth = Callable[..., dict[str, str]]
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
RENDERING = ("customers", 11)  # migration 0011: the `/consultar` body rendered at projection


def event(event_id: str, event_type: str, data: dict[str, Any], cpf: str = CPF_1) -> CanonicalEvent:
    return CanonicalEvent(
        id=event_id,
        source="backend",
        type=event_type,
        version="1.0",
        occurred_at=T0,
        received_at=T0,
        data={"cpf": cpf, **data},
    )


def consulta(
    event_id: str, when: str, empresa: str = "Banco X", cpf: str = CPF_1
) -> CanonicalEvent:
    return event(
        event_id,
        "bureau-query",
        {"empresa": empresa, "data_consulta": when, "tipo_empresa": "banco"},
        cpf,
    )


def movimento(event_id: str, when: str, valor: Any) -> CanonicalEvent:
    return event(
        event_id,
        "financial-movement",
        {
            "tipo_movimentacao": "pix_recebido",
            "data_movimentacao": when,
            "valor": valor,
            "descricao": "salário",
        },
    )


def compra(event_id: str, when: str, valor: Any) -> CanonicalEvent:
    return event(
        event_id,
        "card-purchase",
        {
            "data_compra": when,
            "valor": valor,
            "bandeira_cartao": "visa",
            "produto": "geladeira",
            "tipo": "credito",
            "codigo_transacao": "TX-991",
        },
    )


async def test_consultar_has_exactly_seed_002_shape(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    sink = CustomersActivitySink(customers_of(container))
    await sink.write(
        [
            consulta("e1", "2026-01-10T09:00:00-03:00"),
            movimento("e2", "2026-01-11T10:00:00-0300", "2500.10"),
            compra("e3", "2026-01-12T11:30:00Z", 4599.9),
        ]
    )
    formatted = f"{CPF_1[:3]}.{CPF_1[3:6]}.{CPF_1[6:9]}-{CPF_1[9:]}"
    for form in (CPF_1, formatted):
        response = await client.get(
            f"/clientes/{form}/consultar", headers=auth("customers:activity")
        )
        assert response.status_code == 200
        assert response.json() == {
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
                "data_compra": "2026-01-12T11:30:00Z",
                "valor": 4599.9,
                "bandeira_cartao": "visa",
                "produto": "geladeira",
                "tipo": "credito",
                "codigo_transacao": "TX-991",
            },
        }


async def test_a_late_event_never_overwrites_a_newer_value_and_redelivery_changes_nothing(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    sink = CustomersActivitySink(customers_of(container))
    h = auth("customers:activity")
    await sink.write([consulta("new", "2026-03-01T10:00:00Z", "Nova")])
    await sink.write([consulta("old", "2026-02-01T10:00:00Z", "Antiga")])  # arrives late
    body = (await client.get(f"/clientes/{CPF_1}/consultar", headers=h)).json()
    assert body["ultima_consulta"]["empresa"] == "Nova"
    assert body["movimentacao_financeira"] is None and body["ultima_compra"] is None
    # the same batch holding both orders, and the offset "-0300" compared in UTC
    await sink.write(
        [
            consulta("b", "2026-03-01T08:00:00-0300", "Mais nova"),  # 11:00Z
            consulta("a", "2026-03-01T10:30:00Z", "Intermediária"),
        ]
    )
    body = (await client.get(f"/clientes/{CPF_1}/consultar", headers=h)).json()
    assert body["ultima_consulta"]["empresa"] == "Mais nova"
    # redelivery of every event: nothing changes, the timeline has no duplicate
    await sink.write([consulta("old", "2026-02-01T10:00:00Z", "Antiga")])
    await sink.write([consulta("new", "2026-03-01T10:00:00Z", "Nova")])
    body = (await client.get(f"/clientes/{CPF_1}/consultar", headers=h)).json()
    assert body["ultima_consulta"]["empresa"] == "Mais nova"
    timeline = (await client.get(f"/clientes/{CPF_1}/eventos", headers=h)).json()
    assert timeline["count"] == 4


async def test_timeline_is_paginated_newest_first(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    sink = CustomersActivitySink(customers_of(container))
    events = []
    for i in range(5):
        e = movimento(f"m{i}", f"2026-01-0{i + 1}T10:00:00Z", f"{i}.50")
        events.append(
            CanonicalEvent(
                id=e.id,
                source=e.source,
                type=e.type,
                version=e.version,
                occurred_at=T0.replace(day=i + 1),
                received_at=T0,
                data=e.data,
            )
        )
    await sink.write(events)
    await sink.write([consulta("other-cpf", "2026-01-01", cpf=CPF_2)])
    h = auth("customers:activity")
    page1 = (await client.get(f"/clientes/{CPF_1}/eventos?page_size=2", headers=h)).json()
    assert page1["count"] == 5
    assert page1["next"] == f"/clientes/{CPF_1}/eventos?page_size=2&page=2"
    assert page1["previous"] is None
    assert [r["id"] for r in page1["results"]] == ["m4", "m3"]
    first = page1["results"][0]
    assert set(first) == {"id", "tipo", "ocorrido_em", "dados"}
    assert first["tipo"] == "financial-movement"
    assert first["dados"] == {
        "tipo_movimentacao": "pix_recebido",
        "data_movimentacao": "2026-01-05T10:00:00Z",
        "valor": 4.5,
        "descricao": "salário",
    }
    page3 = (await client.get(f"/clientes/{CPF_1}/eventos?page_size=2&page=3", headers=h)).json()
    assert [r["id"] for r in page3["results"]] == ["m0"] and page3["next"] is None


async def test_cpf_errors_and_unknown_cpf(client: httpx.AsyncClient, auth: Auth) -> None:
    h = auth("customers:activity")
    for bad in ("11111111111", "12345678900", "123"):
        response = await client.get(f"/clientes/{bad}/consultar", headers=h)
        assert response.status_code == 422
        assert response.json()["code"] == "CAU-CUSTOMERS-INVALID-CPF"
    unknown = await client.get(f"/clientes/{CPF_2}/consultar", headers=h)
    assert unknown.status_code == 404 and unknown.json()["code"] == "CAU-CUSTOMERS-NO-ACTIVITY"


async def test_base_c_keeps_no_cpf_in_clear(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    sink = CustomersActivitySink(customers_of(container))
    await sink.write([consulta("e1", "2026-01-10"), compra("e2", "2026-01-10", "10.00")])
    with psycopg.connect(container.owner_url) as conn:
        row = conn.execute(
            "SELECT (SELECT string_agg(a::text, ' ') FROM base_c.activity a)"
            " || (SELECT string_agg(e::text, ' ') FROM base_c.events e)"
        ).fetchone()
    assert row is not None and CPF_1 not in str(row[0])


async def test_erasure_end_to_end_in_a_b_and_c(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    pii = auth("customers:pii")
    created = (await client.post("/clientes", json=cliente(), headers=pii)).json()
    cid = created["id"]
    await client.put(
        f"/clientes/{cid}/score-data",
        json={"bens": [{"tipo": "carro", "valor_estimado": 1000, "descricao": ""}]},
        headers=auth("customers:score"),
    )
    sink = CustomersActivitySink(customers_of(container))
    await sink.write([consulta("e1", "2026-01-10")])
    with psycopg.connect(container.owner_url) as conn:
        wrapped_before = conn.execute(
            "SELECT wrapped FROM base_a.data_keys WHERE customer_id = %s", (cid,)
        ).fetchone()
        profile_before = conn.execute(
            "SELECT profile FROM base_a.customers WHERE id = %s", (cid,)
        ).fetchone()
    assert wrapped_before is not None and profile_before is not None

    deleted = await client.delete(f"/clientes/{cid}", headers=pii)
    assert deleted.status_code == 204
    assert (await client.get(f"/clientes/{cid}", headers=pii)).status_code == 410
    listed = await client.get("/clientes", params={"nome": "maria"}, headers=pii)
    assert listed.json()["count"] == 0
    assert (await client.delete(f"/clientes/{cid}", headers=pii)).status_code == 204

    # the event published in the erasing transaction carries no PII: id and CPF index only
    with psycopg.connect(container.owner_url) as conn:
        payloads = [
            r[0]
            for r in conn.execute("SELECT payload::text FROM bus.messages").fetchall()
            if "customers.erased" in r[0]
        ]
        assert len(payloads) == 1
        assert CPF_1 not in payloads[0] and "Maria" not in payloads[0]
        assert conn.execute(
            "SELECT count(*) FROM base_a.data_keys WHERE customer_id = %s", (cid,)
        ).fetchone() == (0,)
    # a backup taken before still holds the old blob: without the key it opens nothing
    from caudal.customers.crypto.envelope import DecryptionFailed
    from caudal.customers.crypto.vault import SealedKey

    vault = customers_of(container).vault
    try:
        vault.open(cid, SealedKey("k", b"\x01" + b"0" * 60), bytes(profile_before[0]))
    except DecryptionFailed:
        pass
    else:
        raise AssertionError("a forged key opened the erased profile")

    # the router delivers customers.erased to the sink: Bases B and C drop their rows
    import uuid

    from caudal.customers.crypto import blind

    index = blind.cpf_index(vault.keys.index_key, CPF_1)
    erased = customer_event(ERASED, cid, index, None)
    await sink.write([CanonicalEvent.from_dict(erased.payload)])
    with psycopg.connect(container.owner_url) as conn:
        assert conn.execute("SELECT count(*) FROM base_b.score_data").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM base_c.activity").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM base_c.events").fetchone() == (0,)
        actions = [
            r[0]
            for r in conn.execute(
                "SELECT action FROM audit.log WHERE customer_id = %s ORDER BY id", (cid,)
            ).fetchall()
        ]
    assert actions[-3:] == ["customers.erase", "customers.read", "customers.erase"]
    assert (
        await client.get(f"/clientes/{CPF_1}/consultar", headers=auth("customers:activity"))
    ).status_code == 404
    assert uuid.UUID(cid)


# What `/consultar` answered for these events before the body was rendered at projection time
# (main at 76b8803, PostgreSQL's json_build_object spacing, money with its scale): byte for
# byte what it must still answer.
SEED_002_BYTES = (
    b'{"ultima_consulta" : {"empresa" : "Banco X", "data_consulta" : "2026-01-10T09:00:00-03:00",'
    b' "tipo_empresa" : "banco"}, "movimentacao_financeira" : {"tipo_movimentacao" :'
    b' "pix_recebido", "data_movimentacao" : "2026-01-11T10:00:00-0300", "valor" : 2500.10,'
    b' "descricao" : "sal\xc3\xa1rio"}, "ultima_compra" : {"data_compra" : "2026-01-12T11:30:00Z",'
    b' "valor" : 4599.90, "bandeira_cartao" : "visa", "produto" : "geladeira", "tipo" :'
    b' "credito", "codigo_transacao" : "TX-991"}}'
)
LATER_PURCHASE_BYTES = SEED_002_BYTES.replace(
    b'{"data_compra" : "2026-01-12T11:30:00Z", "valor" : 4599.90, "bandeira_cartao" : "visa",'
    b' "produto" : "geladeira", "tipo" : "credito", "codigo_transacao" : "TX-991"}',
    b'{"data_compra" : "2026-02-01", "valor" : -1.50, "bandeira_cartao" : null, "produto" :'
    b' "a\xc3\xa7\xc3\xa3o \\"x\\" \\\\ \xe2\x9c\x93", "tipo" : null, "codigo_transacao" : null}',
)
SEED_002_EVENTS = [
    consulta("e1", "2026-01-10T09:00:00-03:00"),
    movimento("e2", "2026-01-11T10:00:00-0300", "2500.10"),
    compra("e3", "2026-01-12T11:30:00Z", 4599.9),
]
LATER_PURCHASE = event(
    "e5",
    "card-purchase",
    {"data_compra": "2026-02-01", "valor": "-1.5", "produto": 'ação "x" \\ ✓'},
)


async def _consultar_bytes(client: httpx.AsyncClient, auth: Auth) -> bytes:
    response = await client.get(f"/clientes/{CPF_1}/consultar", headers=auth("customers:activity"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))
    assert set(response.headers) == {"content-type", "content-length", "x-trace-key"}
    return response.content


def _rendered(owner_url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(owner_url) as conn:
        return conn.execute("SELECT consulta FROM base_c.activity").fetchall()


async def test_consultar_answers_the_body_rendered_by_the_projection_byte_for_byte(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    sink = CustomersActivitySink(customers_of(container))
    await sink.write(SEED_002_EVENTS)
    assert _rendered(container.owner_url) == [(SEED_002_BYTES.decode(),)]
    assert await _consultar_bytes(client, auth) == SEED_002_BYTES
    await sink.write([LATER_PURCHASE, consulta("e4", "2026-01-09", empresa="Late")])
    assert _rendered(container.owner_url) == [(LATER_PURCHASE_BYTES.decode(),)]
    assert await _consultar_bytes(client, auth) == LATER_PURCHASE_BYTES


async def test_a_row_projected_before_the_rendering_migration_answers_the_same_bytes(
    pg_cluster: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pg_cluster.database(migrated=False) as url:
        migrate_without(url, RENDERING, monkeypatch)
        settings = settings_for(tmp_path, url)
        other = consulta("o1", "2026-01-10", empresa="Outro Banco", cpf=CPF_2)
        async with _served(settings) as (container, _):
            await CustomersActivitySink(customers_of(container)).write([*SEED_002_EVENTS, other])
        assert [m.key for m in migrations.migrate(url)] == [RENDERING]
        assert _rendered(url) == [(None,), (None,)]  # no rewrite of the table by the migration

        async with _served(settings) as (container, client):
            auth = _auth(container)
            assert await _consultar_bytes(client, auth) == SEED_002_BYTES  # rendered at read
            assert _rendered(url) == [(None,), (None,)]  # a read writes nothing
            # docs/operations.md's batched backfill renders the rest, with the same bytes
            with psycopg.connect(url) as conn:
                conn.execute(BACKFILL)
            assert sorted(str(body)[:40] for (body,) in _rendered(url)) == [
                '{"ultima_consulta" : {"empresa" : "Banco',
                '{"ultima_consulta" : {"empresa" : "Outro',
            ]
            assert await _consultar_bytes(client, auth) == SEED_002_BYTES
            sink = CustomersActivitySink(customers_of(container))
            await sink.write([LATER_PURCHASE])  # the next write renders and stores it
            assert (LATER_PURCHASE_BYTES.decode(),) in _rendered(url)
            assert await _consultar_bytes(client, auth) == LATER_PURCHASE_BYTES


BACKFILL = """
UPDATE base_c.activity SET updated_at = updated_at WHERE cpf_index IN (SELECT cpf_index
  FROM base_c.activity WHERE consulta IS NULL LIMIT 10000)
"""


@asynccontextmanager
async def _served(settings: Settings) -> AsyncIterator[tuple[Container, httpx.AsyncClient]]:
    container = bootstrap(settings, bus=build_bus, migrate=False, configure_logging=False)
    app = create_app(container, list(wiring.capabilities()))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://caudal.test") as client,
    ):
        yield container, client


def _auth(container: Container) -> Auth:
    def header(*granted: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {container.tokens.mint('tester', granted, 600)}"}

    return header


async def test_erasure_removes_the_rendered_body(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    from caudal.customers.crypto import blind

    sink = CustomersActivitySink(customers_of(container))
    await sink.write(
        [*SEED_002_EVENTS, consulta("o1", "2026-01-10", empresa="Outro Banco", cpf=CPF_2)]
    )
    assert len(_rendered(container.owner_url)) == 2
    index = blind.cpf_index(customers_of(container).vault.keys.index_key, CPF_1)
    erased = customer_event(ERASED, "00000000-0000-4000-8000-000000000001", index, None)
    await sink.write([CanonicalEvent.from_dict(erased.payload)])
    with psycopg.connect(container.owner_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM base_c.activity WHERE consulta LIKE '%Banco X%'"
        ).fetchone()
    assert left == (0,)
    assert [str(body).count("Outro Banco") for (body,) in _rendered(container.owner_url)] == [1]
    gone = await client.get(f"/clientes/{CPF_1}/consultar", headers=auth("customers:activity"))
    assert gone.status_code == 404


async def test_the_rendered_body_has_every_block_and_field_the_projection_declares(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    """Migration 0011's SQL spells the fields out; `projection.KINDS` declares them: a field
    added to one and not the other fails here."""
    sink = CustomersActivitySink(customers_of(container))
    await sink.write([*SEED_002_EVENTS, consulta("o1", "2026-01-10", cpf=CPF_2)])
    with psycopg.connect(container.owner_url) as conn:
        rows = conn.execute(
            "SELECT consulta, ultima_consulta, movimentacao, ultima_compra FROM base_c.activity"
        ).fetchall()
    assert len(rows) == 2
    for body, *stored in rows:
        expected = {
            kind.block: present_block(kind, block)
            for kind, block in zip(KINDS.values(), stored, strict=True)
        }
        assert json.loads(str(body)) == expected
        assert list(json.loads(str(body))) == [kind.block for kind in KINDS.values()]
    assert (await _consultar_bytes(client, auth)).decode() in {str(body) for body, *_ in rows}
