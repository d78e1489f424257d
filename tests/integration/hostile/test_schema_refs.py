"""SSRF through a schema: a `$ref` may only resolve inside the schema (and the JSON Schema
meta-schemas); one that points anywhere else is refused at registration with its own code, and
nothing is fetched. A real listener stands where the `$ref` points and counts what it gets."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.integration.hostile.conftest import assert_problem

REMOTE_REF = "CAU-EVT-SCHEMA-REMOTE-REF"


class Listener:
    """An HTTP server on 127.0.0.1 that answers a JSON schema slowly and counts requests."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                time.sleep(2)  # a slow listener stalled every request before the fix
                body = b'{"type": "string", "secret": "from-the-listener"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener() as running:
        yield running


def definition(schema: dict[str, Any], type_: str = "loan-approved") -> dict[str, Any]:
    return {"type": type_, "version": "1.0", "source": "backend", "schema": schema}


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"$ref": "{url}/m.json"}, "schema.$ref"),
        (
            {"type": "object", "properties": {"cpf": {"$ref": "{url}/m.json#/x"}}},
            "schema.properties.cpf.$ref",
        ),
        ({"$defs": {"a": {"$dynamicRef": "{url}/d.json"}}}, "schema.$defs.a.$dynamicRef"),
        ({"$id": "{url}/root.json", "$ref": "other.json"}, "schema.$ref"),
        ({"allOf": [{"$ref": "#/$defs/missing"}]}, "schema.allOf[0].$ref"),
    ],
)
async def test_a_ref_outside_the_schema_is_refused_and_nothing_is_fetched(
    client: httpx.AsyncClient,
    auth: Callable[..., dict[str, str]],
    listener: Listener,
    schema: dict[str, Any],
    field: str,
) -> None:
    import json

    concrete = json.loads(json.dumps(schema).replace("{url}", listener.url))
    response = await client.post("/v1/schemas", json=definition(concrete), headers=auth())
    body = assert_problem(response, 422, REMOTE_REF, field)
    assert "from-the-listener" not in response.text
    assert listener.url not in body["detail"] or "does not resolve" in body["detail"]
    assert listener.requests == []
    listed = await client.get("/v1/schemas/loan-approved", headers=auth())
    assert listed.status_code == 404  # nothing was registered


async def test_healthz_stays_fast_while_a_remote_ref_is_registered(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], listener: Listener
) -> None:
    schema = definition({"$ref": f"{listener.url}/m.json"})
    register = asyncio.create_task(client.post("/v1/schemas", json=schema, headers=auth()))
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert_problem(await register, 422, REMOTE_REF, "schema.$ref")
    assert listener.requests == []


async def test_refs_inside_the_schema_and_to_the_meta_schema_work(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], listener: Listener
) -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": {"conta": {"type": "string", "pattern": "^[0-9]{11}$"}},
        "type": "object",
        "properties": {
            "conta": {"$ref": "#/$defs/conta"},
            "rules": {"$ref": "https://json-schema.org/draft/2020-12/schema"},
        },
        "required": ["conta"],
    }
    created = await client.post("/v1/schemas", json=definition(schema), headers=auth())
    assert created.status_code == 201, created.text
    event = {
        "eventType": "loan-approved",
        "eventDateTime": "2020-10-12T21:38:43-0300",
        "version": "1.0",
    }
    good = await client.post(
        "/v1/events/backend", json={**event, "data": {"conta": "12345678900"}}, headers=auth()
    )
    assert good.status_code == 202, good.text
    bad = await client.post(
        "/v1/events/backend", json={**event, "data": {"conta": "123"}}, headers=auth()
    )
    assert bad.status_code == 422
    assert bad.json()["rejected"][0]["field"] == "data.conta"
    assert listener.requests == []
