"""A schema whose evaluation explodes (nested anyOf through $refs: 2^30 branches) stops at the
validation budget: the event is kept in quarantine with CAU-EVT-SCHEMA-BUDGET, nothing is lost,
and the event loop keeps answering meanwhile (validation runs on a worker thread)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from caudal.platform.settings import Settings

BUDGET_S = 0.2


@pytest.fixture
def settings(settings: Settings) -> Settings:
    events = settings.events.model_copy(update={"validation_budget_seconds": BUDGET_S})
    return settings.model_copy(update={"events": events})


def exploding_schema(depth: int = 30) -> dict[str, Any]:
    defs: dict[str, Any] = {"s0": {"type": "string"}}
    for level in range(1, depth + 1):
        ref = {"$ref": f"#/$defs/s{level - 1}"}
        defs[f"s{level}"] = {"anyOf": [ref, ref]}
    return {"$defs": defs, "properties": {"n": {"$ref": f"#/$defs/s{depth}"}}}


async def test_an_exploding_schema_stops_at_the_budget_and_the_event_is_kept(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    definition = {"type": "boom", "version": "1.0", "source": "backend"}
    created = await client.post(
        "/v1/schemas", json={**definition, "schema": exploding_schema()}, headers=auth()
    )
    assert created.status_code == 201, created.text
    body = {
        "eventType": "boom",
        "eventDateTime": "2020-10-12T21:38:43-0300",
        "version": "1.0",
        "data": {"n": 1},
    }
    started = time.perf_counter()
    ingest = asyncio.create_task(client.post("/v1/events/backend", json=body, headers=auth()))
    await asyncio.sleep(0.05)
    health = await client.get("/healthz")  # the loop is free while the thread validates
    assert health.status_code == 200
    assert not ingest.done()
    response = await ingest
    print(f"budget {BUDGET_S}s; answered in {time.perf_counter() - started:.2f}s")
    assert response.status_code == 422, response.text
    rejected = response.json()["rejected"][0]
    assert (rejected["code"], rejected["field"]) == ("CAU-EVT-SCHEMA-BUDGET", "data")
    held = await client.get("/v1/quarantine", params={"type": "boom"}, headers=auth())
    items = held.json()["items"]
    assert [(i["id"], i["code"]) for i in items] == [
        (rejected["quarantine_id"], "CAU-EVT-SCHEMA-BUDGET")
    ]
    # Replaying it is bounded too (2 s per item outside a request's own budget): still held.
    replay = await client.post("/v1/quarantine/replay", params={"type": "boom"}, headers=auth())
    assert replay.status_code == 200, replay.text
    assert [(i["id"], i["code"]) for i in replay.json()["still_invalid"]] == [
        (rejected["quarantine_id"], "CAU-EVT-SCHEMA-BUDGET")
    ]
