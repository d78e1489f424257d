"""Personal data a schema does not mark, through the real API and database: a schema naming a
personal property without a mark is refused with problem+json; a click event carrying a name or
a CPF (formatted, embedded, nested) is quarantined sealed, named by its field only, while the
clean items of the same request reach the bus; nothing of it is stored or answered in clear."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

from caudal.customers.cpf import format_cpf, with_check_digits
from tests.integration.events.conftest import Sql

Auth = Callable[..., dict[str, str]]
CPF = with_check_digits("702318465")
FORMATTED = format_cpf(CPF)
NAME = "Quirina Valdevez Obrand"
PROBLEM = "application/problem+json"


def clicks(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "device": {"platform": "Android", "deviceId": "dev-pii-guard"},
        "data": [{"timestamp": "2026-01-02T10:00:00-0300", **item} for item in items],
    }


async def test_a_personally_named_property_without_a_mark_is_refused_at_registration(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    definition: dict[str, Any] = {
        "type": "profile-viewed",
        "version": "1.0",
        "source": "backend",
        "schema": {
            "type": "object",
            "properties": {
                "perfil": {"type": "object", "properties": {"nomeCompleto": {"type": "string"}}}
            },
        },
    }
    writer = auth("schemas:write", "events:read")
    refused = await client.post("/v1/schemas", json=definition, headers=writer)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM)
    body = refused.json()
    assert {k: body[k] for k in ("status", "code", "field", "title")} == {
        "status": 422,
        "code": "CAU-EVT-SCHEMA-PII-UNMARKED",
        "field": "schema.properties.perfil.properties.nomeCompleto",
        "title": "Invalid schema",
    }
    assert body["detail"].startswith("property `nomeCompleto` is named like personal data")
    missing = await client.get("/v1/schemas/profile-viewed", headers=writer)
    assert missing.status_code == 404

    marked = definition["schema"]["properties"]["perfil"]["properties"]["nomeCompleto"]
    marked["x-caudal-pii"] = "none"
    created = await client.post("/v1/schemas", json=definition, headers=writer)
    assert created.status_code == 201, created.text


async def test_clicks_with_personal_data_are_quarantined_sealed_by_field(
    client: httpx.AsyncClient, auth: Auth, db: Sql
) -> None:
    posted = await client.post(
        "/v1/events/frontend",
        json=clicks(
            {"event_id": "click_ok", "tela": "home", "pedido": "A-1"},
            {"event_id": "click_obs", "obs": f"cliente {FORMATTED} ligou"},
            {"event_id": "click_extra", "nome": NAME},
            {"event_id": "click_deep", "itens": [{"codigos": ["x", int(CPF)]}]},
        ),
        headers=auth("events:write"),
    )
    assert posted.status_code == 202, posted.text
    answer = posted.json()
    assert [a["index"] for a in answer["accepted"]] == [0]
    assert [(r["index"], r["code"], r["field"], r["reason"]) for r in answer["rejected"]] == [
        (1, "CAU-EVT-PII-CPF", "data[1].obs", "schema_violation"),
        (2, "CAU-EVT-PII-UNDECLARED", "data[2].nome", "schema_violation"),
        (3, "CAU-EVT-PII-CPF", "data[3].itens[0].codigos[1]", "schema_violation"),
    ]
    assert answer["rejected"][0]["message"].startswith(
        "data.obs: holds a valid CPF, and no x-caudal-pii mark says what to do with it"
    )

    # stored: metadata naming the field, the payload sealed; the bus has the clean item only
    rows = db.rows(
        "SELECT field, code, message, payload, sealed FROM events.quarantine ORDER BY field"
    )
    assert [(r[0], r[1]) for r in rows] == [
        ("data[1].obs", "CAU-EVT-PII-CPF"),
        ("data[2].nome", "CAU-EVT-PII-UNDECLARED"),
        ("data[3].itens[0].codigos[1]", "CAU-EVT-PII-CPF"),
    ]
    for _, _, message, payload, sealed in rows:
        assert payload is None
        for needle in (CPF, FORMATTED, NAME):
            assert needle not in message and needle.encode() not in bytes(sealed)
    assert [(e["type"], e["data"]) for e in db.bus_events()] == [
        ("click_ok", {"tela": "home", "pedido": "A-1"})
    ]
    stored = json.dumps(db.rows("SELECT payload::text FROM bus.messages"))
    assert CPF not in stored and FORMATTED not in stored and NAME not in stored

    # shown: listed as metadata, revealed with the personal values redacted
    reader = auth("events:read")
    listed = (await client.get("/v1/quarantine", headers=reader)).json()
    assert [i["payload"] for i in listed["items"]] == [None] * 3
    revealed = {}
    for entry in listed["items"]:
        shown = await client.get(f"/v1/quarantine/{entry['id']}/payload", headers=reader)
        assert shown.status_code == 200, shown.text
        revealed[entry["field"]] = shown.json()["payload"]["item"]
    assert revealed["data[1].obs"]["obs"] == "[redacted]"
    assert revealed["data[2].nome"]["nome"] == "[redacted]"
    assert revealed["data[3].itens[0].codigos[1]"]["itens"] == [{"codigos": ["x", "[redacted]"]}]
    texts = json.dumps([listed, revealed])
    assert CPF not in texts and FORMATTED not in texts and NAME not in texts


async def test_every_item_refused_is_a_422_problem_naming_fields_only(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    posted = await client.post(
        "/v1/events/frontend",
        json=clicks({"event_id": "click_x", "Endereço": "Rua Obrand, 7"}),
        headers=auth("events:write"),
    )
    assert posted.status_code == 422
    assert posted.headers["content-type"].startswith(PROBLEM)
    body = posted.json()
    assert (body["code"], body["field"]) == ("CAU-EVT-REJECTED", "data[0].Endereço")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("data[0].Endereço", "CAU-EVT-PII-UNDECLARED")
    ]
    assert "Obrand" not in posted.text


async def test_a_device_holding_a_cpf_refuses_the_whole_request_storing_nothing(
    client: httpx.AsyncClient, auth: Auth, db: Sql
) -> None:
    body = clicks({"event_id": "click_ok"})
    body["device"]["deviceId"] = FORMATTED
    posted = await client.post("/v1/events/frontend", json=body, headers=auth("events:write"))
    assert posted.status_code == 422
    assert posted.headers["content-type"].startswith(PROBLEM)
    problem = posted.json()
    assert (problem["code"], problem["field"]) == ("CAU-EVT-PII-CPF", "device.deviceId")
    assert FORMATTED not in posted.text and CPF not in posted.text
    assert db.rows("SELECT id FROM events.quarantine") == []
    assert db.bus_events() == []
