"""`http.app.include`: plain routers join the app flat (one match per route), others are
included as FastAPI does; either way every route answers as declared."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI

from caudal.platform.http.app import include


def plain() -> APIRouter:
    router = APIRouter(prefix="/v1/plain", tags=["plain"])

    @router.get("/{item}")
    async def item(item: int) -> dict[str, int]:
        return {"item": item}

    return router


def nested() -> APIRouter:
    outer, inner = APIRouter(), APIRouter()

    @inner.get("/nested")
    async def answer() -> dict[str, str]:
        return {"from": "inner"}

    outer.include_router(inner)
    return outer


def with_lifespan(events: list[str]) -> APIRouter:
    @asynccontextmanager
    async def lifespan(_: object) -> AsyncIterator[None]:
        events.append("started")
        yield

    router = APIRouter(lifespan=lifespan)

    @router.get("/lived")
    async def lived() -> dict[str, bool]:
        return {"ok": True}

    return router


async def test_plain_routers_are_flat_and_the_others_included_as_fastapi_does() -> None:
    app, events = FastAPI(), []
    flat, inner, lived = plain(), nested(), with_lifespan(events)
    for router in (flat, inner, lived):
        include(app, router)
    assert app.router.routes[-3] is flat.routes[0]  # the route itself, not a wrapper
    assert app.router.routes[-2] is not inner.routes[0]
    assert app.router.routes[-1] is not lived.routes[0]
    async with app.router.lifespan_context(app):
        assert events == ["started"]  # a router's lifespan still runs
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/v1/plain/7")).json() == {"item": 7}
            invalid = await client.get("/v1/plain/x")
            assert invalid.status_code == 422
            assert invalid.json()["detail"][0]["loc"] == ["path", "item"]
            assert (await client.post("/v1/plain/7")).status_code == 405
            assert (await client.get("/nested")).json() == {"from": "inner"}
            assert (await client.get("/lived")).json() == {"ok": True}
            assert (await client.get("/v1/plain")).status_code == 404
    paths = app.openapi()["paths"]
    assert paths["/v1/plain/{item}"]["get"]["tags"] == ["plain"]
    assert {"/nested", "/lived"} <= set(paths)
