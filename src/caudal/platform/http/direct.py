"""Hot routes served straight from the application's entry, below FastAPI's per-request stack.

Every request to a FastAPI app passes, before its handler runs: FastAPI's telemetry check,
Starlette's entry, `ServerErrorMiddleware`, FastAPI's exception-telemetry and body-limit
middlewares, our `RequestContextMiddleware`, `ExceptionMiddleware` (a `Request` and an
exception-handling wrapper), `AsyncExitStackMiddleware`, the router's loop over every route and
the route's method check. For `POST /v1/events/frontend` that machinery decides nothing, and it
is a measurable share of the request (bench/profiles/README.md, branch `edge`).

A route marked `@direct` is looked up by its exact method and path in one dict at the app's
entry and handed to the same handler the router would call, inside the same
`RequestContextMiddleware` (trace key, body limit, NUL checks, database deadline, access log,
metrics, 500s) with the same exception handlers (problem+json), so no logic is written twice:
the route's own ASGI app is what runs, only the layers between decide nothing for it. The
route object stays in the router, so the OpenAPI document, and every request the table does
not hold (another method: 405; a trailing slash: the redirect; HEAD, OPTIONS; a root path),
go through FastAPI exactly as before.

What makes skipping each layer exact, checked when the app builds its middleware stack (a
marked route that does not qualify is simply served by the router):
- the route takes no path parameters, one method, no body limit of its own, and no route
  before it in the router matches that method and path (the router's first match);
- its ASGI app is `lean.lean_app`'s (no dependency resolution, no `AsyncExitStack` needed);
- the user middleware is `RequestContextMiddleware` alone: it answers every `Exception`, so
  `ServerErrorMiddleware` never acts beneath it; the exception handlers are the
  `ExceptionMiddleware`'s own dicts, set in the scope as it sets them;
- FastAPI's native telemetry is off and no app-wide body limit is set (checked at build, and
  the telemetry again while serving: with either, the request takes FastAPI's path).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from caudal.platform.http import lean
from caudal.platform.http.middleware import RequestContextMiddleware

_DIRECT = "__caudal_direct__"
# How long a "telemetry off" answer is trusted: FastAPI's check looks three OpenTelemetry providers
# up through the environment, ~3.4 µs a request (~5 % of an ingest request's own CPU). A
# provider once set stays set (OpenTelemetry refuses to replace one), so "on" is kept for good;
# "off" is asked again after this long, so telemetry set up while serving is used within it.
TELEMETRY_RECHECK_SECONDS = 1.0
F = TypeVar("F", bound=Callable[..., Any])


def direct(endpoint: F) -> F:
    """Mark a route's endpoint to be served from the app's entry when it qualifies."""
    setattr(endpoint, _DIRECT, True)
    return endpoint


class App(FastAPI):
    """FastAPI with the `@direct` routes looked up before its own stack."""

    _direct: dict[tuple[str, str], ASGIApp] = {}  # noqa: RUF012 (replaced per app at build)
    _telemetry_seen_on = False
    _telemetry_asked_at = float("-inf")

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        self._direct = _table(self, stack)
        return stack

    @property
    def direct_routes(self) -> frozenset[tuple[str, str]]:
        """The (method, path) pairs served from the entry (known once the app has served)."""
        return frozenset(self._direct)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.middleware_stack is not None:
            served = self._direct.get((scope["method"], scope["path"]))
            if served is not None and not scope.get("root_path") and not self._telemetry_active():
                scope["app"] = self
                await served(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _telemetry_active(self) -> bool:
        if self._telemetry_seen_on:
            return True
        now = time.monotonic()
        if now - self._telemetry_asked_at >= TELEMETRY_RECHECK_SECONDS:
            self._telemetry_asked_at = now
            self._telemetry_seen_on = self._native_telemetry.enabled()
        return self._telemetry_seen_on


def _table(app: App, stack: ASGIApp) -> dict[tuple[str, str], ASGIApp]:
    handlers = _exception_handlers(stack)
    middleware = app.user_middleware
    if (
        handlers is None
        or app.root_path
        or app.max_body_size is not None
        or app.router.form_limits
        or len(middleware) != 1
        or middleware[0].cls is not RequestContextMiddleware  # type: ignore[comparison-overlap]
    ):
        return {}
    options = middleware[0]
    table: dict[tuple[str, str], ASGIApp] = {}
    routes = app.router.routes
    for index, route in enumerate(routes):
        if not isinstance(route, APIRoute) or not _qualifies(route):
            continue
        if any(_serves(before, route) for before in routes[:index]):
            continue
        assert route.methods
        (method,) = route.methods
        inner = _entered(route, app.router, handlers)
        table[(method, route.path)] = options.cls(inner, *options.args, **options.kwargs)
    return table


def _qualifies(route: APIRoute) -> bool:
    return (
        getattr(route.endpoint, _DIRECT, False) is True
        and not route.param_convertors
        and route.methods is not None
        and len(route.methods) == 1
        and route.max_body_size is None
        and lean.is_lean(route.app)
    )


def _serves(before: Any, route: APIRoute) -> bool:
    """Whether `before` takes `route`'s requests first (the router stops at a full match)."""
    assert route.methods
    (method,) = route.methods
    probe = {"type": "http", "path": route.path, "root_path": "", "method": method}
    match, _ = before.matches(probe)
    return bool(match is Match.FULL)


def _exception_handlers(stack: ASGIApp) -> tuple[Any, Any] | None:
    """The `ExceptionMiddleware`'s handlers, as it puts them in each request's scope."""
    layer: Any = stack
    while layer is not None:
        if isinstance(layer, ExceptionMiddleware):
            return (layer._exception_handlers, layer._status_handlers)
        layer = getattr(layer, "app", None)
    return None


def _entered(route: APIRoute, router: Any, handlers: tuple[Any, Any]) -> ASGIApp:
    """The route's app with the scope the layers skipped would have left: the exception
    handlers (`ExceptionMiddleware`), the router, and the match (`Router.app`)."""
    served = route.app
    endpoint = route.endpoint

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["starlette.exception_handlers"] = handlers
        scope.setdefault("router", router)
        scope["endpoint"] = endpoint
        scope["path_params"] = {}
        scope["route"] = route
        await served(scope, receive, send)

    return app
