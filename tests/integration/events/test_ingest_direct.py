"""The ingest routes served from the app's entry (`platform.http.direct`) answer exactly as
FastAPI's own stack does: each request is sent once through the app (the direct path) and once
through `FastAPI.__call__` (the router and every middleware), against one database, and the two
answers, access-log lines and metric series must be the same."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
import structlog.testing
from fastapi import FastAPI

from caudal.platform.http.direct import App
from caudal.platform.metrics import HTTP_REQUESTS
from tests.integration.events.conftest import SEED_FRONTEND, SEED_SELFIE

Auth = Callable[..., dict[str, str]]
TRACE = {"X-Trace-Key": "equivalence-trace"}
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
INGEST = ["/v1/events/frontend", "/v1/events/backend", "/v1/events/batch"]


@pytest.fixture
async def both(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    assert isinstance(app, App)
    generic = functools.partial(FastAPI.__call__, app)  # the router and every middleware
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://caudal.test"
        ) as direct,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=generic), base_url="http://caudal.test"
        ) as fastapi,
    ):
        await direct.get("/healthz")  # the first request builds the stack and the table
        assert app.direct_routes == {("POST", path) for path in INGEST}
        yield direct, fastapi


def _count(method: str, route: str, status: int) -> float:
    value = HTTP_REQUESTS.labels(method, route, str(status))._value.get()
    return float(value)


async def _answer(client: httpx.AsyncClient, request: dict[str, Any]) -> dict[str, Any]:
    content = request.get("content")
    if callable(content):  # a stream is read once: a new one per request
        request = {**request, "content": content()}
    with structlog.testing.capture_logs() as logs:
        response = await client.request(**request)
    [line] = [entry for entry in logs if entry.get("event") == "request"]
    line.pop("duration_ms")
    return {
        "status": response.status_code,
        # ids and quarantine ids are random per request; everything else must match byte for byte
        "headers": [(k, _UUID.sub(b"<id>", v)) for k, v in response.headers.raw],
        "body": _UUID.sub(b"<id>", response.content),
        "log": line,
    }


async def _same(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], **request: Any
) -> dict[str, Any]:
    direct, fastapi = both
    before = None
    answers = []
    for client in (direct, fastapi):
        answer = await _answer(client, request)
        series = (answer["log"]["method"], answer["log"]["route"], answer["status"])
        counted = _count(*series)
        if before is not None:
            assert counted == before + 1, series  # the same series, once per request
        before = counted
        answers.append(answer)
    assert answers[0] == answers[1], request
    return answers[0]


def _json(value: Any) -> bytes:
    return orjson.dumps(value)


async def test_accepted_events_answer_alike(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], auth: Auth
) -> None:
    headers = {**auth("events:write"), **TRACE, "content-type": "application/json"}
    for path, body in [
        ("/v1/events/frontend", SEED_FRONTEND),
        ("/v1/events/backend", SEED_SELFIE),
        ("/v1/events/batch", [SEED_SELFIE, {**SEED_SELFIE, "eventType": "no-such-type"}]),
    ]:
        answer = await _same(both, method="POST", url=path, headers=headers, content=_json(body))
        assert answer["status"] == 202
        assert answer["log"]["route"] == path


async def test_errors_answer_alike(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], auth: Auth
) -> None:
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
            answer = await _same(both, method="POST", url=path, **request)
            if path == "/v1/events/frontend":  # the bodies are frontend bodies
                assert answer["status"] == expected, (request.get("headers"), answer)


async def test_other_methods_paths_and_roots_answer_alike(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], auth: Auth
) -> None:
    writer = {**auth("events:write"), **TRACE}
    body = _json(SEED_FRONTEND)
    for path in INGEST:
        for method, expected in [("GET", 405), ("PUT", 405), ("HEAD", 405), ("OPTIONS", 405)]:
            answer = await _same(both, method=method, url=path, headers=writer)
            assert answer["status"] == expected
            assert (b"allow", b"POST") in answer["headers"]
        slash = await _same(both, method="POST", url=path + "/", headers=writer, content=body)
        assert slash["status"] == 307
        for odd in [path.upper(), path + "/x", path.replace("/v1", "/v1/")]:
            await _same(both, method="POST", url=odd, headers=writer, content=body)
        query = await _same(both, method="POST", url=path + "?a=1", headers=writer, content=body)
        assert query["status"] == (202 if path.endswith("frontend") else 422)


async def test_idempotency_keys_answer_alike(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], auth: Auth
) -> None:
    direct, fastapi = both
    headers = {**auth("events:write"), **TRACE, "idempotency-key": "key-direct-1"}
    body = _json(SEED_FRONTEND)
    first = await direct.post("/v1/events/frontend", headers=headers, content=body)
    again = await fastapi.post("/v1/events/frontend", headers=headers, content=body)
    once_more = await direct.post("/v1/events/frontend", headers=headers, content=body)
    assert first.status_code == again.status_code == once_more.status_code == 202
    assert first.content == again.content == once_more.content  # the stored answer, replayed
    reused = await _same(
        both, method="POST", url="/v1/events/backend", headers=headers, content=body
    )
    assert reused["status"] == 422


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 65536):
        yield body[start : start + 65536]
