"""`caudal fakestore serve`: the shipped FakeStore data set over HTTP, like fakestoreapi.com.

Serves `/carts`, `/products`, `/users` (whole lists, `?limit=N`), `/<resource>/<id>` and
`/products/categories`, so the demo and the tests run offline. `--data DIR` serves other files
of the same names (the benchmark serves a million carts this way).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

RESOURCES = ("carts", "products", "users")


def fixture_dir() -> Path:
    """The shipped copy of the real FakeStore data set."""
    return Path(str(resources.files("caudal.pipelines.fakestore").joinpath("data")))


def create_app(data_dir: Path | None = None) -> Starlette:
    folder = data_dir or fixture_dir()

    @cache
    def items(resource: str) -> list[dict[str, Any]]:
        loaded: list[dict[str, Any]] = orjson.loads((folder / f"{resource}.json").read_bytes())
        return loaded

    async def listing(request: Request) -> Response:
        resource = request.path_params["resource"]
        if resource not in RESOURCES:
            return JSONResponse({"error": "not found"}, status_code=404)
        limit = request.query_params.get("limit")
        if limit is None:
            return FileResponse(folder / f"{resource}.json", media_type="application/json")
        if not limit.isdigit():
            return JSONResponse({"error": "limit must be a number"}, status_code=400)
        return _json(items(resource)[: int(limit)])

    async def one(request: Request) -> Response:
        resource, ident = request.path_params["resource"], request.path_params["ident"]
        if resource == "products" and ident == "categories":
            return _json(sorted({p["category"] for p in items("products")}))
        if resource not in RESOURCES or not ident.isdigit():
            return JSONResponse({"error": "not found"}, status_code=404)
        found = next((i for i in items(resource) if i.get("id") == int(ident)), None)
        return (
            _json(found)
            if found is not None
            else Response("null", 200, media_type="application/json")
        )

    return Starlette(
        routes=[Route("/{resource}", listing), Route("/{resource}/{ident}", one)],
    )


def _json(body: object) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")
