"""A route that rules out, in one string comparison, the paths it cannot match.

Starlette (through FastAPI) matches a request against the app's routes in order, each with its
full machinery (FastAPI's included-router context lookup, the root path, the path regex): ~1.2 µs
per route passed, ~41 µs for `GET /clientes/{cpf}/consultar` behind 33 routes
(bench/profiles/README.md). The literal text before a route's first parameter and after its last
one is anchored in its regex, so a path without both cannot match: the route answers NONE without
the rest. Any path that could match still goes through the route's own `matches`, so the route
chosen, its parameters, 405s and the trailing-slash redirects are the same as before.
"""

from __future__ import annotations

from starlette.routing import PARAM_REGEX, Match, Route
from starlette.types import Scope

_NARROWED = "__caudal_narrowed__"


def narrow(route: Route) -> None:
    """Give `route` a `matches` that skips the paths its literal head and tail exclude (once: a
    module's router is included in every app built in the process)."""
    if getattr(route, _NARROWED, False):
        return
    setattr(route, _NARROWED, True)
    original = route.matches
    params = list(PARAM_REGEX.finditer(route.path))
    head = route.path[: params[0].start()] if params else route.path
    tail = route.path[params[-1].end() :] if params else ""
    exact = not params

    def matches(scope: Scope) -> tuple[Match, Scope]:
        # With a root path the route matches the path minus it: left to the route itself.
        if scope["type"] == "http" and not scope.get("root_path"):
            path: str = scope["path"]
            if path.endswith("\n"):  # a regex `$` also matches before one final newline
                path = path[:-1]
            if path != head if exact else not (path.startswith(head) and path.endswith(tail)):
                return Match.NONE, {}
        return original(scope)

    route.matches = matches  # type: ignore[method-assign]
