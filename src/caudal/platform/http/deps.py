"""FastAPI dependencies: the container, and bearer-token auth with scopes per route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from caudal.platform.auth import Principal, forbidden, unauthorized
from caudal.platform.bootstrap import Container
from caudal.platform.errors import CaudalError

_bearer = HTTPBearer(auto_error=False, description="A JWT from `caudal token`.")


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


async def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized(
            "send `Authorization: Bearer <token>`; mint one with `caudal token`",
            "CAU-AUTH-MISSING-TOKEN",
        )
    tokens = container(request).tokens
    if tokens.uses_jwks:  # may fetch the JWKS over HTTP
        principal = await run_in_threadpool(tokens.verify, credentials.credentials)
    else:
        principal = tokens.verify(credentials.credentials)
    request.state.principal = principal
    return principal


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """Admit a valid token holding `scope`: 401 without a valid token, 403 without the scope."""

    async def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not principal.has(scope):
            raise forbidden(scope)
        return principal

    check.__name__ = f"require_{scope.replace(':', '_')}"
    return check
