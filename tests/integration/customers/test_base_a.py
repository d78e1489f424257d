"""Base A over HTTP against a real PostgreSQL: seed 002 shapes, CPF rules, masking, encryption
at rest, audit, scopes, erasure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from caudal.platform.bootstrap import Container
from tests.integration.customers.conftest import CPF_1, CPF_2, CPF_3, cliente

CUSTOMER_KEYS = {
    "id",
    "nome",
    "cpf",
    "data_nascimento",
    "sexo",
    "estado_civil",
    "endereco",
    "dividas",
}
ENDERECO_KEYS = {"uf", "cidade", "bairro", "longadouro", "numero", "complemento"}

Auth = Callable[..., dict[str, str]]


async def create(client: httpx.AsyncClient, auth: Auth, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/clientes", json=body, headers=auth("customers:pii"))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_returns_seed_002_shape_and_get_reads_it_back(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    created = await create(client, auth, cliente())
    assert set(created) == CUSTOMER_KEYS
    assert set(created["endereco"]) == ENDERECO_KEYS
    assert created["cpf"] == "123.456.789-09"
    assert created["dividas"] == [
        {"empresa": "Banco Azul", "valor": 1520.35, "vencimento": "2041-05-10"},
        {"empresa": "Loja Centro", "valor": 99.9, "vencimento": "2040-01-15"},
    ]
    got = await client.get(f"/clientes/{created['id']}", headers=auth("customers:pii"))
    assert got.status_code == 200
    assert got.json() == created
    assert got.json()["endereco"] == {
        "uf": "SP",
        "cidade": "São Paulo",
        "bairro": "Pinheiros",
        "longadouro": "Rua dos Pinheiros",
        "numero": 123,
        "complemento": "apto 42",
    }


async def test_post_with_an_existing_cpf_updates_that_customer(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    first = await create(client, auth, cliente())
    again = await client.post(
        "/clientes",
        json=cliente(cpf="12345678909", nome="Maria Souza Lima", estado_civil="divorciada"),
        headers=auth("customers:pii"),
    )
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert again.json()["nome"] == "Maria Souza Lima"
    listed = await client.get(
        "/clientes", params={"cpf": "123.456.789-09"}, headers=auth("customers:pii")
    )
    assert listed.json()["count"] == 1


async def test_list_paginates_like_django_rest_and_filters(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    from caudal.customers.cpf import with_check_digits

    for i in range(5):
        await create(
            client, auth, cliente(cpf=with_check_digits(f"{200000000 + i}"), nome=f"Ana {i} Silva")
        )
    await create(client, auth, cliente(cpf=CPF_2, nome="João Araújo"))
    h = auth("customers:pii")
    page1 = (await client.get("/clientes?nome=silva&page_size=2", headers=h)).json()
    assert set(page1) == {"count", "next", "previous", "results"}
    assert page1["count"] == 5
    assert page1["next"] == "/clientes?nome=silva&page_size=2&page=2"
    assert page1["previous"] is None
    assert len(page1["results"]) == 2
    assert all(set(r) == CUSTOMER_KEYS for r in page1["results"])
    page3 = (await client.get("/clientes?nome=silva&page_size=2&page=3", headers=h)).json()
    assert page3["next"] is None
    assert page3["previous"] == "/clientes?nome=silva&page_size=2&page=2"
    ids = [
        r["id"]
        for p in (1, 2, 3)
        for r in (await client.get(f"/clientes?nome=silva&page_size=2&page={p}", headers=h)).json()[
            "results"
        ]
    ]
    assert len(set(ids)) == 5
    # least privilege: no listing of every customer
    unfiltered = await client.get("/clientes", headers=h)
    assert unfiltered.status_code == 422
    assert unfiltered.headers["content-type"] == "application/problem+json"
    assert (unfiltered.json()["code"], unfiltered.json()["field"]) == (
        "CAU-CUSTOMERS-FILTER-REQUIRED",
        "nome",
    )
    # past the last page: Django REST Framework's 404 "Invalid page." (as problem+json)
    past = await client.get("/clientes/?nome=silva&page=999", headers=h)
    assert past.status_code == 404 and past.headers["content-type"] == "application/problem+json"
    assert (past.json()["code"], past.json()["detail"]) == ("CAU-INVALID-PAGE", "Invalid page.")
    # with or without the slash, the same answer and no redirect
    slash = await client.get("/clientes/?nome=silva&page_size=2", headers=h)
    assert slash.status_code == 200 and slash.json() == page1
    empty = await client.get("/clientes/", params={"nome": "nobody"}, headers=h)
    assert empty.status_code == 200 and empty.json()["results"] == []  # page 1 may be empty

    # nome: exact word, case- and accent-insensitive; every word must match
    joao = (await client.get("/clientes", params={"nome": "JOAO"}, headers=h)).json()
    assert [r["nome"] for r in joao["results"]] == ["João Araújo"]
    both = (await client.get("/clientes", params={"nome": "araujo joão"}, headers=h)).json()
    assert both["count"] == 1
    partial = (await client.get("/clientes", params={"nome": "Jo"}, headers=h)).json()
    assert partial["count"] == 0
    silva = (
        await client.get("/clientes", params={"nome": "silva", "page_size": 10}, headers=h)
    ).json()
    assert silva["count"] == 5
    # cpf: with or without punctuation
    for form in (CPF_2, f"{CPF_2[:3]}.{CPF_2[3:6]}.{CPF_2[6:9]}-{CPF_2[9:]}"):
        found = (await client.get("/clientes", params={"cpf": form}, headers=h)).json()
        assert [r["nome"] for r in found["results"]] == ["João Araújo"]
    none = (await client.get("/clientes", params={"cpf": CPF_3}, headers=h)).json()
    assert none == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"cpf": "111.111.111-11"}, "CAU-CUSTOMERS-INVALID-CPF", "cpf"),
        ({"cpf": "123.456.789-00"}, "CAU-CUSTOMERS-INVALID-CPF", "cpf"),
        ({"cpf": "1234567890"}, "CAU-CUSTOMERS-INVALID-CPF", "cpf"),
        ({"cpf": "abc.def.ghi-jk"}, "CAU-CUSTOMERS-INVALID-CPF", "cpf"),
        (
            {"data_nascimento": "1990-02-30"},
            "CAU-CUSTOMERS-INVALID-DATA-NASCIMENTO",
            "data_nascimento",
        ),
        (
            {"data_nascimento": "2999-01-01"},
            "CAU-CUSTOMERS-INVALID-DATA-NASCIMENTO",
            "data_nascimento",
        ),
        (
            {"endereco": {"uf": "XX", "cidade": "c", "longadouro": "l"}},
            "CAU-CUSTOMERS-INVALID-UF",
            "endereco.uf",
        ),
        (
            {"dividas": [{"empresa": "x", "valor": "10.005", "vencimento": "2030-01-01"}]},
            "CAU-CUSTOMERS-INVALID-VALOR",
            "dividas.0.valor",
        ),
        (
            {"dividas": [{"empresa": "x", "valor": -5, "vencimento": "2030-01-01"}]},
            "CAU-CUSTOMERS-INVALID-VALOR",
            "dividas.0.valor",
        ),
        (
            {"dividas": [{"empresa": "x", "valor": 5, "vencimento": "ontem"}]},
            "CAU-CUSTOMERS-INVALID-VENCIMENTO",
            "dividas.0.vencimento",
        ),
    ],
)
async def test_invalid_fields_are_422_with_a_code_naming_the_field(
    client: httpx.AsyncClient, auth: Auth, change: dict[str, Any], code: str, field: str
) -> None:
    response = await client.post("/clientes", json=cliente(**change), headers=auth("customers:pii"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["field"] == field


async def test_mask_hides_identifying_fields(client: httpx.AsyncClient, auth: Auth) -> None:
    created = await create(client, auth, cliente())
    h = auth("customers:pii")
    masked = (await client.get(f"/clientes/{created['id']}?mask=true", headers=h)).json()
    assert masked["cpf"] == "***.456.789-**"
    assert masked["nome"] == "Maria ***"
    assert masked["data_nascimento"] == "1985-**-**"
    assert masked["endereco"]["longadouro"] == "***"
    assert set(masked) == CUSTOMER_KEYS
    listed = (await client.get("/clientes?mask=true&nome=maria", headers=h)).json()
    assert listed["results"][0]["cpf"] == "***.456.789-**"


async def test_no_cpf_or_name_in_clear_in_the_database(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    await create(client, auth, cliente())
    with psycopg.connect(container.owner_url) as conn:
        dump = conn.execute(
            "SELECT string_agg(t::text, ' ') FROM ("
            " SELECT c::text AS t FROM base_a.customers c UNION ALL"
            " SELECT k::text FROM base_a.data_keys k UNION ALL"
            " SELECT n::text FROM base_a.name_tokens n UNION ALL"
            " SELECT a::text FROM audit.log a UNION ALL"
            " SELECT m::text FROM bus.messages m) x"
        ).fetchone()
        raw_profile = conn.execute("SELECT profile FROM base_a.customers").fetchone()
    text = str(dump[0] if dump else "")
    assert raw_profile is not None
    blob = bytes(raw_profile[0])
    for needle in ("12345678909", "123.456.789-09", "Maria", "Concei", "Pinheiros", "Banco Azul"):
        assert needle not in text
        assert needle.encode() not in blob
    # hex-encoded too (bytea renders as \x...)
    assert b"12345678909".hex() not in text


async def test_app_role_cannot_read_or_delete_base_a_tables_directly(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    await create(client, auth, cliente())
    for statement in (
        "SELECT * FROM base_a.customers",
        "DELETE FROM base_a.customers",
        "SELECT * FROM base_a.data_keys",
        "UPDATE base_a.customers SET profile = NULL",
        "DELETE FROM base_a.name_tokens",
    ):
        with (
            psycopg.connect(container.app_url) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(statement)
    # Base A's search finds customers, it does not page through them: a filter is required
    # and the page is bounded (as the application role, `caudal_app`).
    for statement, error in (
        (
            "SELECT * FROM base_a.customer_search(NULL, NULL, 100, 0)",
            psycopg.errors.InsufficientPrivilege,
        ),
        (
            "SELECT * FROM base_a.customer_search(NULL, '{}', 100, 0)",
            psycopg.errors.InsufficientPrivilege,
        ),
        (
            "SELECT * FROM base_a.customer_search(%(index)s, NULL, 100000, 0)",
            psycopg.errors.InvalidParameterValue,
        ),
        (
            "SELECT * FROM base_a.customer_search_unchecked(NULL, NULL, 100, 0)",
            psycopg.errors.InsufficientPrivilege,
        ),
    ):
        with psycopg.connect(container.app_url) as conn, pytest.raises(error):
            conn.execute(statement, {"index": b"x" * 32})
    with psycopg.connect(container.owner_url) as conn:
        index = conn.execute("SELECT cpf_index FROM base_a.customers").fetchone()
    assert index is not None
    with psycopg.connect(container.app_url) as conn:
        rows = conn.execute(
            "SELECT id FROM base_a.customer_search(%s, NULL, 100, 0)", (index[0],)
        ).fetchall()
    assert len(rows) == 1


async def test_every_access_is_audited_and_audit_is_append_only(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    created = await create(client, auth, cliente())
    cid = created["id"]
    h = auth("customers:pii", subject="analyst-7")
    await client.get(f"/clientes/{cid}", headers=h, params={"mask": "true"})
    await client.get("/clientes", params={"nome": "maria"}, headers=h)
    await client.post(
        f"/clientes/{cid}/dividas",
        json={"empresa": "Financeira", "valor": "300.00", "vencimento": "2032-01-01"},
        headers=h,
    )
    await client.delete(f"/clientes/{cid}/dividas/0", headers=h)
    response = await client.get(
        "/v1/audit",
        params={"customer_id": cid},
        headers={**auth("audit:read"), "X-Trace-Key": "t-1"},
    )
    assert response.status_code == 200
    body = response.json()
    actions = [r["action"] for r in body["results"]]
    assert actions == [
        "customers.dividas.remove",
        "customers.dividas.add",
        "customers.read",
        "customers.read",
        "customers.create",
    ]
    assert {r["subject"] for r in body["results"][:4]} == {"analyst-7"}
    assert all(r["trace_key"] for r in body["results"])
    assert set(body["results"][0]) == {
        "id",
        "at",
        "subject",
        "action",
        "customer_id",
        "trace_key",
        "detail",
    }
    listing = (
        await client.get(
            "/v1/audit", params={"action": "customers.list"}, headers=auth("audit:read")
        )
    ).json()
    assert listing["count"] == 1
    assert listing["results"][0]["detail"] == {
        "filters": ["nome"],
        "page": 1,
        "results": 1,
        "count": 1,
    }

    with psycopg.connect(container.app_url) as conn:
        for statement in ("UPDATE audit.log SET subject = 'x'", "DELETE FROM audit.log"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
    with (
        psycopg.connect(container.owner_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("DELETE FROM audit.log")  # even the owner: a trigger refuses


async def test_debts_add_and_remove(client: httpx.AsyncClient, auth: Auth) -> None:
    created = await create(client, auth, cliente(dividas=[]))
    h = auth("customers:pii")
    added = await client.post(
        f"/clientes/{created['id']}/dividas",
        json={"empresa": "Financeira", "valor": "1234567.89", "vencimento": "2032-01-01"},
        headers=h,
    )
    assert added.status_code == 201
    assert added.json()["dividas"] == [
        {"empresa": "Financeira", "valor": 1234567.89, "vencimento": "2032-01-01"}
    ]
    bad = await client.post(
        f"/clientes/{created['id']}/dividas",
        json={"empresa": "Financeira", "valor": "abc", "vencimento": "2032-01-01"},
        headers=h,
    )
    assert bad.status_code == 422 and bad.json()["code"] == "CAU-CUSTOMERS-INVALID-VALOR"
    missing = await client.delete(f"/clientes/{created['id']}/dividas/5", headers=h)
    assert missing.status_code == 404
    removed = await client.delete(f"/clientes/{created['id']}/dividas/0", headers=h)
    assert removed.status_code == 200 and removed.json()["dividas"] == []


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/clientes", "customers:pii"),
        ("POST", "/clientes", "customers:pii"),
        ("GET", "/clientes/00000000-0000-0000-0000-000000000000", "customers:pii"),
        ("DELETE", "/clientes/00000000-0000-0000-0000-000000000000", "customers:pii"),
        ("GET", "/clientes/00000000-0000-0000-0000-000000000000/score-data", "customers:score"),
        ("PUT", "/clientes/00000000-0000-0000-0000-000000000000/score-data", "customers:score"),
        ("GET", "/clientes/00000000-0000-0000-0000-000000000000/score", "customers:score"),
        ("GET", f"/clientes/{CPF_1}/consultar", "customers:activity"),
        ("GET", f"/clientes/{CPF_1}/eventos", "customers:activity"),
        ("GET", "/v1/audit", "audit:read"),
    ],
)
async def test_401_without_token_and_403_without_scope(
    client: httpx.AsyncClient, auth: Auth, method: str, path: str, scope: str
) -> None:
    anonymous = await client.request(method, path, json={})
    assert anonymous.status_code == 401
    others = [
        s
        for s in (
            "customers:pii",
            "customers:score",
            "customers:activity",
            "audit:read",
            "events:write",
        )
        if s != scope
    ]
    wrong = await client.request(method, path, json={}, headers=auth(*others))
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "CAU-AUTH-FORBIDDEN"


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, auth: Auth) -> None:
    h = auth("customers:pii")
    unknown = await client.get("/clientes/00000000-0000-0000-0000-000000000000", headers=h)
    assert unknown.status_code == 404 and unknown.json()["code"] == "CAU-CUSTOMERS-NOT-FOUND"
    bad = await client.get("/clientes/not-a-uuid", headers=h)
    assert bad.status_code == 422 and bad.json()["code"] == "CAU-CUSTOMERS-INVALID-ID"
