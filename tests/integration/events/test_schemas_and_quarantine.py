"""The schema registry API, and quarantine + replay once the schema exists."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from caudal import wiring
from caudal.bus.adapters import build_bus
from caudal.events import registry_files, runtime
from caudal.events.quarantine import replay, replay_in
from caudal.events.registry_files import SchemaFileError
from caudal.platform.bootstrap import Container, bootstrap
from caudal.platform.http.app import create_app
from caudal.platform.settings import Settings
from tests.integration.events.conftest import SEED_SELFIE, Sql

Auth = Callable[..., dict[str, str]]
LOAN_V1: dict[str, Any] = {
    "type": "loan-approved",
    "version": "1.0",
    "source": "backend",
    "description": "a loan was approved",
    "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "cpf": {"type": "string", "x-caudal-pii": "cpf"},
            "valor": {"type": "string"},
        },
        "required": ["cpf", "valor"],
    },
}
LOAN_EVENT: dict[str, Any] = {
    "eventType": "loan-approved",
    "eventDateTime": "2024-03-01T12:00:00-03:00",
    "version": "1.0",
    "data": {"cpf": "52998224725", "valor": "1500.00"},
}


async def test_list_and_show_the_shipped_schemas(client: httpx.AsyncClient, auth: Auth) -> None:
    listed = await client.get("/v1/schemas", headers=auth("events:read"))
    assert listed.status_code == 200
    pairs = {(s["type"], s["version"], s["origin"]) for s in listed.json()["items"]}
    assert ("selfie-uploaded", "1.0", "package") in pairs
    assert ("click_*", "1.0", "package") in pairs
    shown = await client.get("/v1/schemas/card-purchase", headers=auth("events:read"))
    assert shown.status_code == 200
    body = shown.json()
    assert body["latest"] == "1.0"
    assert body["versions"][0]["schema"]["required"] == [
        "cpf",
        "data_compra",
        "valor",
        "bandeira_cartao",
        "produto",
        "tipo",
        "codigo_transacao",
    ]
    missing = await client.get("/v1/schemas/nope", headers=auth("events:read"))
    assert missing.status_code == 404
    assert missing.json()["code"] == "CAU-EVT-SCHEMA-NOT-FOUND"


async def test_register_versions_compatible_and_breaking(
    client: httpx.AsyncClient, auth: Auth, db: Sql
) -> None:
    writer = auth("schemas:write", "events:read")
    assert (
        await client.post("/v1/schemas", json=LOAN_V1, headers=auth("events:read"))
    ).status_code == 403
    created = await client.post("/v1/schemas", json=LOAN_V1, headers=writer)
    assert created.status_code == 201, created.text
    assert created.json()["origin"] == "api"
    assert (await client.post("/v1/schemas", json=LOAN_V1, headers=writer)).status_code == 200
    changed = {**LOAN_V1, "schema": {**LOAN_V1["schema"], "required": ["cpf"]}}
    exists = await client.post("/v1/schemas", json=changed, headers=writer)
    assert exists.status_code == 409
    assert exists.json()["code"] == "CAU-EVT-SCHEMA-EXISTS"
    props = LOAN_V1["schema"]["properties"]
    addition = {
        **LOAN_V1,
        "version": "1.1",
        "schema": {**LOAN_V1["schema"], "properties": {**props, "parcelas": {"type": "integer"}}},
    }
    assert (await client.post("/v1/schemas", json=addition, headers=writer)).status_code == 201
    removal = {
        **LOAN_V1,
        "version": "2.0",
        "schema": {
            **LOAN_V1["schema"],
            "properties": {"cpf": {"type": "string", "x-caudal-pii": "cpf"}},
            "required": ["cpf"],
        },
    }
    refused = await client.post("/v1/schemas", json=removal, headers=writer)
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "CAU-EVT-SCHEMA-INCOMPATIBLE"
    assert problem["breaking_changes"] == [
        "property 'valor' was removed",
        "property 'parcelas' was removed",
    ]
    new_required = {
        **addition,
        "version": "1.2",
        "schema": {**addition["schema"], "required": ["cpf", "valor", "parcelas"]},
    }
    refused = await client.post("/v1/schemas", json=new_required, headers=writer)
    assert refused.json()["breaking_changes"] == ["property 'parcelas' became required"]
    retyped = {
        **addition,
        "version": "1.3",
        "schema": {**addition["schema"], "properties": {**props, "parcelas": {"type": "string"}}},
    }
    refused = await client.post("/v1/schemas", json=retyped, headers=writer)
    assert refused.json()["breaking_changes"] == [
        "property 'parcelas' changed type from ['integer'] to ['string']"
    ]
    invalid = await client.post(
        "/v1/schemas", json={**LOAN_V1, "version": "3.0", "schema": {"type": 12}}, headers=writer
    )
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "CAU-EVT-SCHEMA-INVALID"
    stored = db.rows("SELECT type, version, created_by FROM events.schemas ORDER BY version")
    assert stored == [("loan-approved", "1.0", "tester"), ("loan-approved", "1.1", "tester")]
    shown = await client.get("/v1/schemas/loan-approved", headers=writer)
    assert shown.json()["latest"] == "1.1"


async def test_unknown_type_is_quarantined_then_replayed_once_registered(
    client: httpx.AsyncClient, auth: Auth, db: Sql, container: Container
) -> None:
    writer = auth("events:write", "events:read", "schemas:write")
    rejected = await client.post("/v1/events/backend", json=LOAN_EVENT, headers=writer)
    assert rejected.status_code == 422
    assert rejected.json()["rejected"][0]["reason"] == "unknown_type"
    other = await client.post(
        "/v1/events/backend", json={**SEED_SELFIE, "data": {}}, headers=writer
    )
    assert other.status_code == 422
    listed = await client.get("/v1/quarantine", headers=writer, params={"type": "loan-approved"})
    assert listed.status_code == 200
    [entry] = listed.json()["items"]
    assert entry["reason"] == "unknown_type"
    assert entry["code"] == "CAU-EVT-UNKNOWN-TYPE"
    assert entry["payload"] is None  # the listing never opens a sealed payload
    revealed = await client.get(f"/v1/quarantine/{entry['id']}/payload", headers=writer)
    assert revealed.status_code == 200
    # revealed with personal values redacted (no schema yet: `cpf` is known by its name)
    shown = {**LOAN_EVENT, "data": {**LOAN_EVENT["data"], "cpf": "[redacted]"}}
    assert revealed.json() == {"id": entry["id"], "payload": shown}
    assert entry["replayed_at"] is None
    assert db.bus_events() == []

    events = runtime.get(container)
    nothing = await replay(
        container.database, events.bus, events.catalog, events.limits, events.sealer
    )
    assert nothing.replayed == []
    assert len(nothing.still_invalid) == 2

    assert (await client.post("/v1/schemas", json=LOAN_V1, headers=writer)).status_code == 201
    report = await replay_in(container, type_="loan-approved")  # with the CPF tokenizer
    assert report.replayed == [entry["id"]]
    [published] = db.bus_events()
    assert published["id"] == entry["id"]
    assert published["type"] == "loan-approved"
    # the schema marks `cpf`: replayed as its token, like any event of that schema
    assert set(published["data"]) == {"cpf", "valor"}
    assert re.fullmatch("[0-9a-f]{64}", published["data"]["cpf"])
    assert published["data"]["valor"] == LOAN_EVENT["data"]["valor"]
    assert published["occurred_at"] == "2024-03-01T15:00:00+00:00"
    again = await client.post("/v1/quarantine/replay", headers=writer)
    assert again.status_code == 200
    assert again.json()["replayed"] == []
    assert [f["code"] for f in again.json()["still_invalid"]] == ["CAU-EVT-SCHEMA-VIOLATION"]
    reader_only = await client.post("/v1/quarantine/replay", headers=auth("events:read"))
    assert reader_only.status_code == 403
    assert len(db.bus_events()) == 1
    held = (await client.get("/v1/quarantine", headers=writer)).json()["items"]
    assert [(p["type"], p["status"]) for p in held] == [("selfie-uploaded", "held")]
    explicit = await client.get("/v1/quarantine", headers=writer, params={"status": "held"})
    assert explicit.json()["items"] == held  # one vocabulary: the dashboard's "Held"
    replayed = (
        await client.get("/v1/quarantine", headers=writer, params={"status": "replayed"})
    ).json()
    assert [(r["id"], r["event_id"], r["status"]) for r in replayed["items"]] == [
        (entry["id"], entry["id"], "replayed")
    ]
    old_word = await client.get("/v1/quarantine", headers=writer, params={"status": "pending"})
    assert old_word.status_code == 422


async def test_quarantine_pagination(client: httpx.AsyncClient, auth: Auth) -> None:
    writer = auth("events:write", "events:read")
    batch = [{**SEED_SELFIE, "data": {"n": i}} for i in range(7)]
    assert (await client.post("/v1/events/batch", json=batch, headers=writer)).status_code == 422
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/quarantine", headers=writer, params=params)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7
    bad = await client.get("/v1/quarantine", headers=writer, params={"cursor": "!!"})
    assert bad.status_code == 422


async def test_a_schemas_directory_adds_types_with_no_code(
    settings: Settings, tmp_path: Path, auth: Auth
) -> None:
    directory = tmp_path / "schemas"
    directory.mkdir()
    (directory / "loan.json").write_text(json.dumps(LOAN_V1))
    configured = settings.model_copy(
        update={"events": settings.events.model_copy(update={"schemas_dir": directory})}
    )
    container = bootstrap(configured, bus=build_bus, migrate=False, configure_logging=False)
    app = create_app(container, wiring.capabilities())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        shown = await http.get("/v1/schemas/loan-approved", headers=auth("events:read"))
        assert shown.status_code == 200
        assert shown.json()["versions"][0]["origin"] == "directory"
        accepted = await http.post(
            "/v1/events/backend", json=LOAN_EVENT, headers=auth("events:write")
        )
        assert accepted.status_code == 202, accepted.text


def test_a_missing_schemas_directory_is_refused_with_the_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SchemaFileError, match="CAUDAL_EVENTS__SCHEMAS_DIR"):
        registry_files.from_directory(tmp_path / "nope")
    (tmp_path / "bad.json").write_text('{"type": "x", "schema": {"type": 5}}')
    with pytest.raises(SchemaFileError, match=r"bad.json: schema.type"):
        registry_files.from_directory(tmp_path)
