"""Hot routes served straight from the application's entry, below FastAPI's per-request stack.

Every request to a FastAPI app passes, before its handler runs: FastAPI's telemetry check,
Starlette's entry, `ServerErrorMiddleware`, FastAPI's exception-telemetry and body-limit
middlewares, our `RequestContextMiddleware`, `ExceptionMiddleware` (a `Request` and an
exception-handling wrapper), `AsyncExitStackMiddleware`, the router's loop over every route and
the route's method check. For `POST /v1/events/frontend` that machinery decides nothing, and it
is a measurable share of the request (bench/profiles/README.md, branch `edge`).

A route marked `@direct` is looked up at the app's entry (a fixed path by its exact method and
path in one dict; a path with parameters among the marked routes of its method and number of
segments, by its own `matches`) and handed to the same handler the router would call, inside
the same `RequestContextMiddleware` (trace key, body limit, NUL checks, database deadline, access
log, metrics, 500s) with the same exception handlers (problem+json), so no logic is written twice:
the route's own ASGI app is what runs, only the layers between decide nothing for it. The
route object stays in the router, so the OpenAPI document, and every request the table does
not hold (another method: 405; a trailing slash: the redirect; HEAD, OPTIONS; a root path),
go through FastAPI exactly as before.

What makes skipping each layer exact, checked when the app builds its middleware stack (a
marked route that does not qualify is simply served by the router):
- the route takes one method, no body limit of its own, and no parameter that spans segments
  (`{x:path}`); the router's first match is its own: with a fixed path, no route before it
  matches that method and path; with parameters, the routes before it that could match one of
  its paths (`_may_share_a_path`, judged segment by segment) are asked first on every request,
  and a request one of them matches goes through the router;
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
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.convertors import PathConvertor
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Match, Mount, Route
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
    _templated: dict[tuple[str, int], list[Templated]] = {}  # noqa: RUF012 (the same)
    _telemetry_seen_on = False
    _telemetry_asked_at = float("-inf")

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        self._direct, self._templated = _tables(self, stack)
        return stack

    @property
    def direct_routes(self) -> frozenset[tuple[str, str]]:
        """The (method, path) pairs served from the entry, a route's path template for one
        with parameters (known once the app has served)."""
        templated = {
            (method, t.route.path) for (method, _), ts in self._templated.items() for t in ts
        }
        return frozenset(self._direct) | templated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.middleware_stack is not None:
            served = self._direct.get((scope["method"], scope["path"]))
            params: dict[str, Any] | None = None
            if served is None and self._templated:
                served, params = self._with_parameters(scope)
            if served is not None and not scope.get("root_path") and not self._telemetry_active():
                scope["app"] = self
                if params is not None:
                    scope["path_params"] = params
                await served(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _with_parameters(self, scope: Scope) -> tuple[ASGIApp | None, dict[str, Any] | None]:
        """The marked route with parameters that the router would pick for this request, and
        its parameters; (None, None) when the router decides."""
        path: str = scope["path"]
        for templated in self._templated.get((scope["method"], path.count("/")), ()):
            match, child = templated.route.matches(scope)
            if match is not Match.FULL:
                continue
            if any(before.matches(scope)[0] is Match.FULL for before in templated.before):
                break
            return templated.app, child["path_params"]
        return None, None

    def _telemetry_active(self) -> bool:
        if self._telemetry_seen_on:
            return True
        now = time.monotonic()
        if now - self._telemetry_asked_at >= TELEMETRY_RECHECK_SECONDS:
            self._telemetry_asked_at = now
            self._telemetry_seen_on = self._native_telemetry.enabled()
        return self._telemetry_seen_on


@dataclass(frozen=True)
class Templated:
    """A marked route with parameters: its app as served from the entry, and the routes before
    it in the router that could match one of its paths."""

    route: APIRoute
    app: ASGIApp
    before: tuple[BaseRoute, ...]


Tables = tuple[dict[tuple[str, str], ASGIApp], dict[tuple[str, int], list[Templated]]]


def _tables(app: App, stack: ASGIApp) -> Tables:
    """The marked routes served from the entry: by (method, path), and those with parameters
    by (method, the number of `/` in their paths), in the router's order."""
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
        return {}, {}
    options = middleware[0]
    fixed: dict[tuple[str, str], ASGIApp] = {}
    templated: dict[tuple[str, int], list[Templated]] = {}
    routes = app.router.routes
    for index, route in enumerate(routes):
        if not isinstance(route, APIRoute) or not _qualifies(route):
            continue
        method = _method(route)
        assert method is not None
        if route.param_convertors:
            before = tuple(r for r in routes[:index] if _may_share_a_path(r, route, method))
            inner = _entered(route, app.router, handlers, fixed_path=False)
            served = options.cls(inner, *options.args, **options.kwargs)
            key = (method, route.path.count("/"))
            templated.setdefault(key, []).append(Templated(route, served, before))
            continue
        if any(_serves(before, route) for before in routes[:index]):
            continue
        inner = _entered(route, app.router, handlers, fixed_path=True)
        fixed[(method, route.path)] = options.cls(inner, *options.args, **options.kwargs)
    return fixed, templated


def _qualifies(route: APIRoute) -> bool:
    return (
        getattr(route.endpoint, _DIRECT, False) is True
        and _method(route) is not None
        and route.max_body_size is None
        and lean.is_lean(route.app)
        and _segments(route) is not None
    )


def _method(route: APIRoute) -> str | None:
    """The one method the route serves from the entry: a GET route's implied HEAD is left to
    the router (it answers without a body)."""
    methods = set(route.methods or ())
    if "GET" in methods:
        methods.discard("HEAD")
    return next(iter(methods)) if len(methods) == 1 else None


def _segments(route: BaseRoute) -> list[str | None] | None:
    """A path route's segments, None for one that holds a parameter; None for a route whose
    paths cannot be told by their segments (a parameter spanning `/`, or no path route)."""
    if not isinstance(route, Route) or any(
        isinstance(c, PathConvertor) for c in route.param_convertors.values()
    ):
        return None
    return [None if "{" in segment else segment for segment in route.path.split("/")]


def _may_share_a_path(before: BaseRoute, route: APIRoute, method: str) -> bool:
    """Whether a request for `method` could be a full match of `before` and of `route` (whose
    parameters each match within one segment): as many segments, and equal literal ones; for a
    mount, its own segments first. Anything else (a parameter spanning segments, a host) is
    assumed to share a path."""
    if isinstance(before, Route) and before.methods is not None and method not in before.methods:
        return False
    mine = _segments(route)
    assert mine is not None
    if isinstance(before, Mount):
        prefix = [None if "{" in s else s for s in before.path.rstrip("/").split("/")]
        return len(mine) > len(prefix) and _compatible(mine[: len(prefix)], prefix)
    theirs = _segments(before)
    return theirs is None or (len(mine) == len(theirs) and _compatible(mine, theirs))


def _compatible(mine: list[str | None], theirs: list[str | None]) -> bool:
    return all(a is None or b is None or a == b for a, b in zip(mine, theirs, strict=True))


def _serves(before: Any, route: APIRoute) -> bool:
    """Whether `before` takes `route`'s requests first (the router stops at a full match)."""
    method = _method(route)
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


def _entered(
    route: APIRoute, router: Any, handlers: tuple[Any, Any], *, fixed_path: bool
) -> ASGIApp:
    """The route's app with the scope the layers skipped would have left: the exception
    handlers (`ExceptionMiddleware`), the router, and the match (`Router.app`; a route with
    parameters has its own in the scope already, from `App._with_parameters`)."""
    served = route.app
    endpoint = route.endpoint

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["starlette.exception_handlers"] = handlers
        scope.setdefault("router", router)
        scope["endpoint"] = endpoint
        if fixed_path:
            scope["path_params"] = {}
        scope["route"] = route
        await served(scope, receive, send)

    return app
