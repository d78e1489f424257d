from __future__ import annotations

from fastapi import APIRouter, FastAPI

from caudal.web.internal_api import has_route, route_paths


def test_routes_of_nested_routers_are_found() -> None:
    inner = APIRouter(prefix="/v1/things")

    @inner.get("/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    outer = APIRouter()
    outer.include_router(inner)
    app = FastAPI()
    app.include_router(outer)
    assert "/v1/things/{thing_id}" in route_paths(app)
    assert has_route(app, "/v1/things/{thing_id}")
    assert not has_route(app, "/v1/others")
