"""Refuse the NUL character anywhere a request carries text.

PostgreSQL text and jsonb cannot hold NUL: a `%00` in a query or path parameter, or a `\u0000`
in a JSON body, reached a query and came back as a 500. The middleware checks the path, the query
string and the headers of every request (a byte search; parsing only when a NUL is there) and
JSON bodies as they stream in; forms check their fields. No route has to remember it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from caudal.platform.errors import CaudalError

NUL_CODE = "CAU-REQ-NUL"


JSON_NUL = b"\\u0000"


class BodyHasNul(HTTPException):
    """Raised from `receive`; an HTTPException so FastAPI's body parsing lets it through."""

    def __init__(self) -> None:
        super().__init__(status_code=422, detail="body")


def nul_refused(field_name: str, status: int = 400) -> CaudalError:
    return CaudalError(
        code=NUL_CODE,
        detail=f"{field_name} contains the NUL character (\\u0000 or %00), which is not allowed",
        status=status,
        title="Bad request" if status == 400 else "Invalid body",
        field=field_name,
    )


def scans_body(scope: Scope) -> bool:
    """JSON bodies (or bodies without a type) are scanned for `\\u0000` as they arrive."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for header, raw in headers:
        if header == b"content-type":
            return b"json" in raw.lower()
    return True


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
