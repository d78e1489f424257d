"""`http.matching.narrow`: a narrowed route matches exactly the paths it matched before (same
result, same parameters), over every route of the real app and paths built to fool a prefix
check; and the app still picks the same route for each."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from starlette.routing import PARAM_REGEX, Route

from tests.support.offline_app import offline_app


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return offline_app(tmp_path_factory.mktemp("matching") / "home")


def paths_near(template: str) -> list[str]:
    """Paths a route may or may not match: its own shape with sample values, and near misses."""
    filled = PARAM_REGEX.sub("v-1", template)
    return [
        filled,
        filled + "/",
        filled + "\n",  # a regex `$` matches before one final newline
        filled + "\n\n",
        filled + "/extra",
        filled.rstrip("/") + "x",
        "/x" + filled,
        filled.replace("v-1", "a/b", 1),
        filled.replace("v-1", "", 1),
        PARAM_REGEX.sub("12345678909", template),
        template,
        "/",
        "",
    ]


def scope(path: str, method: str = "GET", root_path: str = "") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": root_path}


def test_a_narrowed_route_matches_what_it_matched_before(app: FastAPI) -> None:
    routes = [r for r in app.router.routes if isinstance(r, Route)]
    narrowed = [r for r in routes if "matches" in vars(r)]
    assert len(narrowed) > 30  # the capabilities' routes (the docs' own are not narrowed)
    samples = [p for r in routes for p in paths_near(r.path)]
    checked = 0
    for route in narrowed:
        for path in samples:
            for method in ("GET", "POST"):
                for root in ("", "/api"):
                    probe = scope(root + path if root else path, method, root)
                    before = type(route).matches(route, dict(probe))  # the class's own
                    assert route.matches(dict(probe)) == before, (route.path, path, method, root)
                    checked += 1
    assert checked > 100_000


def test_the_app_still_picks_the_same_route(app: FastAPI) -> None:
    routes = [r for r in app.router.routes if isinstance(r, Route)]
    samples = [p for r in routes for p in paths_near(r.path)]
    for path in samples:
        for method in ("GET", "POST", "DELETE"):
            picked_now = next(
                (r.path for r in routes if r.matches(scope(path, method))[0].name == "FULL"), None
            )
            picked_before = next(
                (
                    r.path
                    for r in routes
                    if type(r).matches(r, scope(path, method))[0].name == "FULL"
                ),
                None,
            )
            assert picked_now == picked_before, (path, method)
