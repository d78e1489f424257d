"""Ingestion over HTTP against a real PostgreSQL: what is durable on the bus, in quarantine,
and what the client is told."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from caudal.platform.settings import Settings
from tests.integration.events.conftest import SEED_FRONTEND, SEED_SELFIE, Sql

PROBLEM = "application/problem+json"
Auth = Callable[..., dict[str, str]]


async def test_seed_frontend_payload_is_accepted_and_durable(
    client: httpx.AsyncClient, auth: Auth, db: Sql
) -> None:
    response = await client.post(
        "/v1/events/frontend",
        json=SEED_FRONTEND,
        headers={**auth("events:write"), "X-Trace-Key": "trace-abc"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert [a["index"] for a in body["accepted"]] == [0, 1]
    assert body["rejected"] == []
    on_bus = db.bus_events()
    assert [e["id"] for e in on_bus] == [a["id"] for a in body["accepted"]]
    first = on_bus[0]
    assert first["source"] == "frontend"
    assert first["type"] == "click_button_help"
    assert first["version"] == "1.0"
    assert first["device"] == {"platform": "Android", "deviceId": "je28c5slx5aoj1bx4"}
    assert first["occurred_at"] == "2020-10-12T23:01:14+00:00"  # -0300 stored as UTC
    assert first["trace_key"] == "trace-abc"
    assert first["data"] == {}
    keys = db.rows("SELECT key, headers FROM bus.messages ORDER BY seq")
    assert keys[0] == ("device:je28c5slx5aoj1bx4", {"trace_key": "trace-abc"})


async def test_backend_event_valid_and_invalid(
    client: httpx.AsyncClient, auth: Auth, db: Sql
) -> None:
    ok = await client.post("/v1/events/backend", json=SEED_SELFIE, headers=auth("events:write"))
    assert ok.status_code == 202
    [accepted] = ok.json()["accepted"]
    bad = await client.post(
        "/v1/events/backend",
        json={**SEED_SELFIE, "data": {"selfield": 42}},
        headers=auth("events:write"),
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == PROBLEM
    problem = bad.json()
    assert problem["code"] == "CAU-EVT-REJECTED"
    assert problem["field"] == "data.selfield"
    [rejected] = problem["rejected"]
    assert rejected["code"] == "CAU-EVT-SCHEMA-VIOLATION"
    assert rejected["reason"] == "schema_violation"
    assert [e["id"] for e in db.bus_events()] == [accepted["id"]]
    stored = db.rows(
        "SELECT id::text, reason, type, version, payload, sealed IS NOT NULL FROM events.quarantine"
    )
    assert stored == [  # the payload is sealed at rest, never in clear
        (rejected["quarantine_id"], "schema_violation", "selfie-uploaded", "1.0", None, True)
    ]


async def test_batch_partial_acceptance_and_unknown_type(
    client: httpx.AsyncClient, auth: Auth, db: Sql
) -> None:
    events = [
        SEED_SELFIE,
        {**SEED_SELFIE, "eventType": "loan-approved"},
        {**SEED_SELFIE, "eventDateTime": "2020-10-12T21:38:43"},
        {
            "eventType": "document-uploaded",
            "eventDateTime": "2020-10-12T21:38:43Z",
            "version": "1.0",
            "data": {"documentId": "XhyTgs4f6TralPo98Nba1s"},
        },
    ]
    response = await client.post("/v1/events/batch", json=events, headers=auth("events:write"))
    assert response.status_code == 202
    body = response.json()
    assert [a["index"] for a in body["accepted"]] == [0, 3]
    assert [(r["index"], r["code"], r["field"]) for r in body["rejected"]] == [
        (1, "CAU-EVT-UNKNOWN-TYPE", "[1].eventType"),
        (2, "CAU-EVT-TIMESTAMP", "[2].eventDateTime"),
    ]
    assert len(db.bus_events()) == 2
    reasons = db.rows("SELECT type, reason FROM events.quarantine ORDER BY type")
    assert reasons == [("loan-approved", "unknown_type"), ("selfie-uploaded", "invalid_envelope")]


async def test_idempotency_key_answers_the_same_and_ingests_once(
    client: httpx.AsyncClient, auth: Auth, db: Sql
) -> None:
    headers = {**auth("events:write"), "Idempotency-Key": "req-0001"}
    payload = {**SEED_FRONTEND, "data": [*SEED_FRONTEND["data"], {"event_id": "x"}]}
    first = await client.post("/v1/events/frontend", json=payload, headers=headers)
    assert first.status_code == 202
    again = await asyncio.gather(
        *(client.post("/v1/events/frontend", json=payload, headers=headers) for _ in range(5))
    )
    assert {r.status_code for r in again} == {202}
    assert {r.content for r in again} == {first.content}
    assert len(db.bus_events()) == 2
    assert db.one("SELECT count(*) FROM events.quarantine") == 1
    reused = await client.post("/v1/events/frontend", json=SEED_FRONTEND, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["code"] == "CAU-EVT-IDEMPOTENCY-KEY-REUSED"
    # Another client's key of the same value is its own.
    other = {**auth("events:write", subject="other-app"), "Idempotency-Key": "req-0001"}
    assert (
        await client.post("/v1/events/frontend", json=payload, headers=other)
    ).status_code == 202
    assert len(db.bus_events()) == 4


async def test_an_idempotency_key_holding_a_cpf_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, auth: Auth, db: Sql
) -> None:
    headers = {**auth("events:write"), "Idempotency-Key": "cliente-529.982.247-25"}
    refused = await client.post("/v1/events/frontend", json=SEED_FRONTEND, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["code"] == "CAU-EVT-IDEMPOTENCY-KEY"
    assert refused.json()["field"] == "Idempotency-Key"
    # the key's CPF in no form (the answer's random trace key may hold "529" by chance)
    assert "529.982.247" not in refused.text and "cliente-" not in refused.text
    assert "52998224725" not in refused.text.replace(".", "").replace("-", "")
    assert db.bus_events() == [] and db.one("SELECT count(*) FROM events.idempotency") == 0


async def test_concurrent_first_requests_with_one_key_ingest_once(
    client: httpx.AsyncClient, auth: Auth, db: Sql
) -> None:
    headers = {**auth("events:write"), "Idempotency-Key": "race-1"}
    answers = await asyncio.gather(
        *(client.post("/v1/events/backend", json=SEED_SELFIE, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in answers} == {202}
    assert len({r.content for r in answers}) == 1
    assert len(db.bus_events()) == 1


async def test_client_event_id_makes_a_retry_one_event(
    client: httpx.AsyncClient, auth: Auth, db: Sql
) -> None:
    body = {**SEED_SELFIE, "eventId": "selfie-777"}
    first = await client.post("/v1/events/backend", json=body, headers=auth("events:write"))
    second = await client.post("/v1/events/backend", json=body, headers=auth("events:write"))
    assert first.json() == second.json()
    assert len(db.bus_events()) == 1


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (
            b'{"device": {"platform": "A", "deviceId": "d"}, "data": [',
            400,
            "CAU-REQ-MALFORMED-JSON",
        ),
        (b"[[[[" * 300 + b"]]]]" * 300, 422, "CAU-EVT-TOO-DEEP"),
        (b'"just a string"', 422, "CAU-EVT-BODY"),
        (b'{"device": {"platform": "A", "deviceId": 5}, "data": []}', 422, "CAU-EVT-DEVICE"),
        (b'{"device": {"platform": "A", "deviceId": "d"}, "data": "x"}', 422, "CAU-EVT-DATA"),
        (
            b'{"device": {"platform": "A", "deviceId": "d"}, "data": [{"event_id": "c",'
            b' "timestamp": "2020-10-12T20:01:14Z", "t": "a\\u0000b"}]}',
            422,
            "CAU-REQ-NUL",
        ),
    ],
)
async def test_bad_bodies_get_a_clear_4xx(
    client: httpx.AsyncClient, auth: Auth, db: Sql, content: bytes, status: int, code: str
) -> None:
    response = await client.post(
        "/v1/events/frontend",
        content=content,
        headers={**auth("events:write"), "content-type": "application/json"},
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == code
    assert db.bus_events() == []
    assert (await client.get("/healthz")).status_code == 200


async def test_big_and_deep_inputs_are_refused_and_the_server_stays_healthy(
    client: httpx.AsyncClient, auth: Auth, db: Sql
) -> None:
    item = {"timestamp": "2020-10-12T20:01:14Z", "event_id": "c"}
    headers = auth("events:write")
    device = SEED_FRONTEND["device"]
    many = await client.post(
        "/v1/events/frontend", json={"device": device, "data": [item] * 10_000}, headers=headers
    )
    assert many.status_code == 413
    assert many.json()["code"] in {"CAU-EVT-TOO-MANY-ITEMS", "CAU-REQ-TOO-LARGE"}
    over_limit = await client.post(
        "/v1/events/frontend", json={"device": device, "data": [item] * 1001}, headers=headers
    )
    assert over_limit.status_code == 413
    assert over_limit.json()["code"] == "CAU-EVT-TOO-MANY-ITEMS"
    huge = await client.post(
        "/v1/events/frontend",
        json={"device": device, "data": [{**item, "blob": "x" * 2_000_000}]},
        headers=headers,
    )
    assert huge.status_code == 413
    assert huge.json()["code"] == "CAU-REQ-TOO-LARGE"
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    too_deep = await client.post(
        "/v1/events/frontend",
        json={"device": device, "data": [{**item, "deep": deep}]},
        headers=headers,
    )
    assert too_deep.status_code == 422
    assert too_deep.json()["code"] == "CAU-EVT-TOO-DEEP"
    assert db.bus_events() == []
    fine = await client.post("/v1/events/frontend", json=SEED_FRONTEND, headers=headers)
    assert fine.status_code == 202


async def test_scope_and_token_are_required(client: httpx.AsyncClient, auth: Auth) -> None:
    anonymous = await client.post("/v1/events/frontend", json=SEED_FRONTEND)
    assert anonymous.status_code == 401
    reader = await client.post(
        "/v1/events/frontend", json=SEED_FRONTEND, headers=auth("events:read")
    )
    assert reader.status_code == 403
    assert reader.json()["required_scope"] == "events:write"


async def test_database_down_answers_503_with_retry_after_never_202(
    client: httpx.AsyncClient, auth: Auth, db: Sql, settings: Settings, pg_cluster: Any
) -> None:
    headers = auth("events:write")
    assert (
        await client.post("/v1/events/frontend", json=SEED_FRONTEND, headers=headers)
    ).status_code == 202
    name = db.one("SELECT current_database()")
    admin = Sql(pg_cluster.admin_url)
    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", name)
    try:
        for _ in range(3):
            down = await client.post("/v1/events/frontend", json=SEED_FRONTEND, headers=headers)
            assert down.status_code == 503
            assert down.headers["content-type"] == PROBLEM
            assert down.headers["retry-after"] == str(settings.events.retry_after_seconds)
            assert down.json()["code"] == "CAU-UNAVAILABLE"
    finally:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    back = None
    for _ in range(50):
        back = await client.post("/v1/events/frontend", json=SEED_FRONTEND, headers=headers)
        if back.status_code == 202:
            break
        await asyncio.sleep(0.1)
    assert back is not None and back.status_code == 202
    assert len(db.bus_events()) == 4
    assert json.loads(back.content)["rejected"] == []
