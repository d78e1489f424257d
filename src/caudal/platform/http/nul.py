"""Refuse the NUL character in what a request names outside its body.

PostgreSQL text cannot hold NUL: a `%00` in a query or path parameter reached a query and came
back as a 500. The middleware checks the path, the query string and the headers of every request
(a byte search; parsing only when a NUL is there) and forms check their fields, so no route has
to remember it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from caudal.platform.errors import CaudalError

NUL_CODE = "CAU-REQ-NUL"


def nul_refused(field_name: str) -> CaudalError:
    return CaudalError(
        code=NUL_CODE,
        detail=f"{field_name} contains the NUL character (\\u0000 or %00), which is not allowed",
        status=400,
        title="Bad request",
        field=field_name,
    )


def refuse_nul_in_fields(fields: dict[str, str], prefix: str = "") -> None:
    """Raise the 400 naming the first field (name or value) holding a NUL."""
    for name, value in fields.items():
        if "\x00" in name or "\x00" in value:
            raise nul_refused(prefix + name.replace("\x00", "\\u0000"))


def nul_field(scope: Scope) -> str | None:
    """The field of this request that holds a NUL (`query.type`, `path.branch`, `header.x-a`),
    or None."""
    if "\x00" in str(scope["path"]):
        return _path_field(scope)
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return "query." + name.replace("\x00", "\\u0000")
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for header, raw in headers:
        if b"\x00" in raw or b"\x00" in header:
            return "header." + header.decode("latin-1").replace("\x00", "\\u0000")
    return None


def _path_field(scope: Scope) -> str:
    """`path.<parameter>` of the route the path matches, else `path`."""
    router = getattr(scope.get("app"), "router", None)
    for route in _routes(getattr(router, "routes", [])):
        match, child = route.matches(scope)
        if match is Match.FULL:
            for name, value in child.get("path_params", {}).items():
                if isinstance(value, str) and "\x00" in value:
                    return f"path.{name}"
            break
    return "path"


def _routes(routes: Iterable[Any]) -> Iterator[BaseRoute]:
    """Every route, included routers unfolded (FastAPI keeps them as one entry each)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        elif isinstance(route, BaseRoute):
            yield route
