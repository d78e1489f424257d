"""The ingest routes served from the app's entry (`platform.http.direct`) answer exactly as
FastAPI's own stack does (`tests/support/direct_routes.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from fastapi import FastAPI

from tests.integration.events.conftest import SEED_FRONTEND, SEED_SELFIE
from tests.support.direct_routes import Clients, both_paths, same

Auth = Callable[..., dict[str, str]]
TRACE = {"X-Trace-Key": "equivalence-trace"}
INGEST = ["/v1/events/frontend", "/v1/events/backend", "/v1/events/batch"]


@pytest.fixture
async def both(app: FastAPI) -> AsyncIterator[Clients]:
    async with both_paths(app, {("POST", path) for path in INGEST}) as clients:
        yield clients


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


async def test_accepted_events_answer_alike(both: Clients, auth: Auth) -> None:
    headers = {**auth("events:write"), **TRACE, "content-type": "application/json"}
    for path, body in [
        ("/v1/events/frontend", SEED_FRONTEND),
        ("/v1/events/backend", SEED_SELFIE),
        ("/v1/events/batch", [SEED_SELFIE, {**SEED_SELFIE, "eventType": "no-such-type"}]),
    ]:
        answer = await same(both, method="POST", url=path, headers=headers, content=_json(body))
        assert answer["status"] == 202
        assert answer["log"]["route"] == path


async def test_errors_answer_alike(both: Clients, auth: Auth) -> None:
    writer = {**auth("events:write"), **TRACE, "content-type": "application/json"}
    reader = {**auth("events:read"), **TRACE, "content-type": "application/json"}
    body = _json(SEED_FRONTEND)
    over = b'{"device": {}, "data": [' + b'{"pad": "' + b"x" * (1024 * 1024) + b'"}]}'
    cases: list[tuple[int, dict[str, Any]]] = [
        (400, {"headers": writer, "content": b"{not json"}),
        (401, {"headers": {**TRACE}, "content": body}),
        (401, {"headers": {**TRACE, "authorization": "Bearer not-a-token"}, "content": body}),
        (403, {"headers": reader, "content": body}),
        (413, {"headers": writer, "content": over}),  # declared in content-length
        (413, {"headers": writer, "content": lambda: _chunks(over)}),  # streamed, no length
        (422, {"headers": writer, "content": b'{"device": {"platform": "a\\u0000"}}'}),
        (400, {"headers": {**writer, "x-note": "a\x00b"}, "content": body}),
        (422, {"headers": {**writer, "idempotency-key": "has space"}, "content": body}),
        (422, {"headers": writer, "content": _json({"device": "nope", "data": []})}),
        (422, {"headers": writer, "content": b"[" * 2000 + b"]" * 2000}),
        # not JSON by its type: the body is read as JSON all the same, as FastAPI's path does
        (202, {"headers": {**writer, "content-type": "text/plain"}, "content": body}),
        (400, {"headers": {**writer, "content-type": "text/plain"}, "content": b"plain"}),
    ]
    for expected, request in cases:
        for path in INGEST:
            answer = await same(both, method="POST", url=path, **request)
            if path == "/v1/events/frontend":  # the bodies are frontend bodies
                assert answer["status"] == expected, (request.get("headers"), answer)


async def test_other_methods_paths_and_roots_answer_alike(both: Clients, auth: Auth) -> None:
    writer = {**auth("events:write"), **TRACE}
    body = _json(SEED_FRONTEND)
    for path in INGEST:
        for method, expected in [("GET", 405), ("PUT", 405), ("HEAD", 405), ("OPTIONS", 405)]:
            answer = await same(both, method=method, url=path, headers=writer)
            assert answer["status"] == expected
            assert (b"allow", b"POST") in answer["headers"]
        slash = await same(both, method="POST", url=path + "/", headers=writer, content=body)
        assert slash["status"] == 307
        for odd in [path.upper(), path + "/x", path.replace("/v1", "/v1/")]:
            await same(both, method="POST", url=odd, headers=writer, content=body)
        query = await same(both, method="POST", url=path + "?a=1", headers=writer, content=body)
        assert query["status"] == (202 if path.endswith("frontend") else 422)


async def test_idempotency_keys_answer_alike(both: Clients, auth: Auth) -> None:
    direct, fastapi = both
    headers = {**auth("events:write"), **TRACE, "idempotency-key": "key-direct-1"}
    body = _json(SEED_FRONTEND)
    first = await direct.post("/v1/events/frontend", headers=headers, content=body)
    again = await fastapi.post("/v1/events/frontend", headers=headers, content=body)
    once_more = await direct.post("/v1/events/frontend", headers=headers, content=body)
    assert first.status_code == again.status_code == once_more.status_code == 202
    assert first.content == again.content == once_more.content  # the stored answer, replayed
    reused = await same(
        both, method="POST", url="/v1/events/backend", headers=headers, content=body
    )
    assert reused["status"] == 422


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 65536):
        yield body[start : start + 65536]
