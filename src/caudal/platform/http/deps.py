"""FastAPI dependencies: the container, and bearer-token auth with scopes per route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from caudal.platform.auth import Principal, forbidden, unauthorized
from caudal.platform.bootstrap import Container
from caudal.platform.errors import CaudalError
from caudal.platform.http import lean


def container(request: Request) -> Container:
    c: Container = request.app.state.container
    return c


ContainerDep = Annotated[Container, Depends(container)]


async def json_body(request: Request) -> Any:
    """The body as JSON, for routes that validate it themselves (to answer their own codes);
    not JSON is a 400."""
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise CaudalError(
            code="CAU-REQ-MALFORMED-JSON",
            detail="the request body is not valid JSON",
            status=400,
            title="Malformed JSON",
            field="body",
        ) from None


async def _principal(request: Request) -> Principal:
    """The bearer token's principal: what `HTTPBearer(auto_error=False)` accepts (a scheme and
    a non-blank credential), else 401; the token service caches verified tokens until expiry."""
    header = lean.header(request, b"authorization")
    scheme, _, credentials = (header or "").partition(" ")
    credentials = credentials.strip()
    if not (scheme and credentials) or scheme.lower() != "bearer":
        raise unauthorized(
            "send `Authorization: Bearer <token>`; mint one with `caudal token`",
            "CAU-AUTH-MISSING-TOKEN",
        )
    tokens = container(request).tokens
    if tokens.uses_jwks:  # may fetch the JWKS over HTTP
        principal = await run_in_threadpool(tokens.verify, credentials)
    else:
        principal = tokens.verify(credentials)
    # `request.state.principal`, set in the dict `request.state` wraps (no `State` built)
    request.scope.setdefault("state", {})["principal"] = principal
    return principal


# Each auth dependency is one function of the request alone: FastAPI resolves a dependency
# tree level by level on every request (cache keys, scopes, parameter extraction), and a
# `HTTPBearer` scheme plus `authenticated` beneath each scope check cost ~19 µs a request
# (bench/profiles/README.md). What that tree said in the OpenAPI document (the bearer
# security scheme on each operation) the `openapi` module says from the mark below.
BEARER_SCHEME = "HTTPBearer"
BEARER_DOC = {"type": "http", "scheme": "bearer", "description": "A JWT from `caudal token`."}
AUTHENTICATES = "__caudal_authenticates__"  # set on every dependency that checks the token


async def authenticated(request: Request) -> Principal:
    """Admit a valid bearer token (any scope): 401 without one."""
    return await _principal(request)


setattr(authenticated, AUTHENTICATES, True)


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """Admit a valid token holding `scope`: 401 without a valid token, 403 without the scope."""

    async def check(request: Request) -> Principal:
        principal = await _principal(request)
        if not principal.has(scope):
            raise forbidden(scope)
        return principal

    check.__name__ = f"require_{scope.replace(':', '_')}"
    setattr(check, AUTHENTICATES, True)
    return check
