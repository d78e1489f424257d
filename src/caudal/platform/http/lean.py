"""Routes whose parameters need no resolving are served without FastAPI's per-request
dependency machinery.

For every request FastAPI walks the route's dependency tree (`solve_dependencies`): per level a
placeholder `Response`, the query string and cookies parsed, four parameter groups validated,
cache keys built from the OAuth scopes, telemetry spans; then the endpoint context, the body
and the response handling. For a route like `GET /clientes/{cpf}/consultar` (the request, the
bearer-token principal, one `str` path parameter, a `Response` returned) all of that decides
nothing: ~100 µs of a ~560 µs request in process (bench/profiles/README.md).

A route qualifies only when calling it directly is exactly what FastAPI would do:
- its dependencies are coroutines of the request alone (the auth checks of `deps.require`),
  without sub-dependencies, `yield` or a thread;
- its own parameters are the request and path parameters typed `str` without constraints
  (FastAPI validates a `str` path parameter as the text it already is);
- no query, header, cookie or body parameter; no background tasks, response or security-scopes
  parameter;
- the endpoint is a coroutine declared to return a `Response`, which FastAPI would send as is.
Anything else keeps FastAPI's handler. The route object is unchanged (the OpenAPI document, the
401/403 declarations and the route's signature still come from it); errors raised on the way go
to the same exception handlers (Starlette's `wrap_app_handling_exceptions` wraps this handler as
FastAPI's `request_response` wraps its own).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Resolver = Callable[[Request], Awaitable[Any]]
_LEAN = "__caudal_lean__"


def lean_app(route: APIRoute) -> ASGIApp | None:
    """The route's ASGI app without dependency resolution, or None if it does not qualify."""
    dependant = route.dependant
    endpoint = dependant.call
    if endpoint is None or not _plain_params(dependant) or not _returns_response(endpoint):
        return None
    resolvers: list[tuple[str | None, Resolver, bool]] = []
    for sub in dependant.dependencies:
        if sub.call is None or not _request_alone(sub):
            return None
        resolvers.append((sub.name, sub.call, sub.use_cache))
    request_name = dependant.request_param_name
    path_names = [param.name for param in dependant.path_params]

    async def handle(request: Request) -> Response:
        values: dict[str, Any] = {}
        solved: dict[Resolver, Any] = {}  # as FastAPI: a dependency named twice runs once
        for name, resolve, cached in resolvers:
            if cached and resolve in solved:
                value = solved[resolve]
            else:
                value = solved[resolve] = await resolve(request)
            if name is not None:
                values[name] = value
        if request_name is not None:
            values[request_name] = request
        path = request.path_params
        for name in path_names:
            values[name] = path[name]
        response = await endpoint(**values)
        if not isinstance(response, Response):
            raise TypeError(f"{route.path} returned {type(response).__name__}, not a Response")
        return response

    return _served(handle)


def _served(handle: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """FastAPI's `request_response` without its two `AsyncExitStack`s: they collect what
    dependencies with `yield` and uploaded files leave to close, and a lean route has neither
    (~2.6 µs a request in a micro-benchmark at load 5). The rest is the same: one `Request`,
    and an error the handler raises goes through Starlette's `wrap_app_handling_exceptions` to
    the same exception handlers. That wrapper (two closures, a `send` wrapped to note the
    response's start) is entered only on such an error: before the handler returns nothing has
    been sent, so it would find the response not started, as it does here. Once the handler
    returned, sending its `Response` raises none of the handled exceptions (problem+json's
    `CaudalError`, `HTTPException`, validation, database); anything the server's `send` raises
    propagates, as it would have past a wrapper with no handler for it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        try:
            response = await handle(request)
        except Exception as exc:
            await wrap_app_handling_exceptions(_raising(exc), request)(scope, receive, send)
            return
        await response(scope, receive, send)

    setattr(app, _LEAN, True)
    return app


def _raising(exc: Exception) -> ASGIApp:
    """An app that raises `exc`: the handler's error, handed to the exception wrapper."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise exc

    return app


class BytesResponse(Response):
    """`Response(body, status_code, media_type=media_type)` for a body already in bytes and a
    media type that is not `text/`: the same status, raw headers (content-length, then
    content-type) and body, without the general path's rendering and header merging."""

    def __init__(self, body: bytes, status_code: int, media_type: str) -> None:
        assert not media_type.startswith("text/") and status_code >= 200 and status_code != 204
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", media_type.encode()),
        ]


def header(request: Request, name: bytes) -> str | None:
    """`request.headers.get(name)` for a lower-case `name`, read from the scope's raw list
    without building Starlette's `Headers` (the server gives names in lower case, and
    `Headers` compares them as they are)."""
    raw: list[tuple[bytes, bytes]] = request.scope["headers"]
    for key, value in raw:
        if key == name:
            return value.decode("latin-1")
    return None


async def body_of(request: Request) -> bytes:
    """`await request.body()` for a request whose body no one has read yet: the chunks taken
    from `receive` in a loop rather than through Starlette's stream generator (~2 µs). The
    same outcome: a disconnect raises `ClientDisconnect`, what `receive` raises (the body limit
    and NUL checks of `RequestContextMiddleware`) passes through, and `request.body()` answers
    the same bytes afterwards."""
    if request._stream_consumed or hasattr(request, "_body"):
        return await request.body()
    receive = request.receive
    chunks: list[bytes] = []
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        elif kind == "http.disconnect":
            request._is_disconnected = True
            raise ClientDisconnect()
    request._stream_consumed = True
    body = request._body = b"".join(chunks)
    return body


def is_lean(app: ASGIApp) -> bool:
    """Whether `app` is a route's app built here (served without FastAPI's handler)."""
    return getattr(app, _LEAN, False) is True


def _plain_params(dependant: Dependant) -> bool:
    """Only the request and unconstrained `str` path parameters."""
    if (
        dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    ):
        return False
    return all(
        param.field_info.annotation is str
        and not param.field_info.metadata
        and param.alias == param.name
        for param in dependant.path_params
    )


def _request_alone(sub: Dependant) -> bool:
    """A coroutine dependency whose only parameter is the request, with nothing beneath it."""
    return (
        inspect.iscoroutinefunction(sub.call)
        and not sub.dependencies
        and not sub.path_params
        and sub.request_param_name is not None
        and _plain_params(sub)
        and sub.concurrency is None
    )


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    if not inspect.iscoroutinefunction(endpoint):
        return False
    try:
        returned = typing.get_type_hints(endpoint).get("return")
    except (NameError, TypeError):
        return False
    return isinstance(returned, type) and issubclass(returned, Response)
