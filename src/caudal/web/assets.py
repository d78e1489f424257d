"""The stylesheet, script and icon shipped in the package (no CDN: works offline)."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from starlette.responses import Response

from caudal.platform.errors import not_found

router = APIRouter(include_in_schema=False)

TYPES = {
    "app.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


@cache
def asset(name: str) -> tuple[bytes, str]:
    data = resources.files("caudal.web").joinpath("static", name).read_bytes()
    return data, '"' + hashlib.sha256(data).hexdigest()[:20] + '"'


@router.get("/static/{name}")
async def static(name: str, request: Request) -> Response:
    kind = TYPES.get(name)
    if kind is None:
        raise not_found("asset", "CAU-WEB-NO-ASSET")
    data, etag = asset(name)
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=300",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=kind, headers=headers)
