"""Requests sent once through the app's entry (`platform.http.direct`) and once through
`FastAPI.__call__` (the router and every middleware), against one database: the two answers,
access-log lines and metric series must be the same."""

from __future__ import annotations

import functools
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog.testing
from fastapi import FastAPI

from caudal.platform.http.direct import App
from caudal.platform.metrics import HTTP_REQUESTS

Clients = tuple[httpx.AsyncClient, httpx.AsyncClient]  # (the app's entry, FastAPI's stack)
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")


@asynccontextmanager
async def both_paths(app: FastAPI, served: set[tuple[str, str]]) -> AsyncIterator[Clients]:
    """Two clients of one started app; `served` (method, route path) must be among its direct
    routes."""
    assert isinstance(app, App)
    generic = functools.partial(FastAPI.__call__, app)
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
        assert served <= app.direct_routes
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


async def same(both: Clients, **request: Any) -> dict[str, Any]:
    """The request's answer, the same through both paths (its metric series counted once by
    each)."""
    before = None
    answers = []
    for client in both:
        answer = await _answer(client, request)
        series = (answer["log"]["method"], answer["log"]["route"], answer["status"])
        counted = _count(*series)
        if before is not None:
            assert counted == before + 1, series  # the same series, once per request
        before = counted
        answers.append(answer)
    assert answers[0] == answers[1], request
    return answers[0]
