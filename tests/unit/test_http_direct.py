"""`http.direct`: which marked routes are served from the app's entry, and that the app still
answers as FastAPI's stack does when they are (the ingest routes' equivalence against a real
database: tests/integration/events/test_ingest_direct.py)."""

from __future__ import annotations

import functools
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import SecretStr

from caudal.platform.auth import Principal, TokenService
from caudal.platform.http import direct as direct_module
from caudal.platform.http import problems
from caudal.platform.http.app import include
from caudal.platform.http.deps import require
from caudal.platform.http.direct import App, direct
from caudal.platform.http.middleware import RequestContextMiddleware
from caudal.platform.settings import AuthSettings

SECRET = "direct-test-secret-0123456789abcdef0123456789"
Writer = Annotated[Principal, Depends(require("things:write"))]


def router() -> APIRouter:
    r = APIRouter()

    @r.post("/shadowed")
    async def first(request: Request) -> Response:
        return Response(b"first")

    @r.post("/hot")
    @direct
    async def hot(request: Request, principal: Writer) -> Response:
        return Response(await request.body(), status_code=202, media_type="application/json")

    @r.post("/shadowed")
    @direct
    async def second(request: Request) -> Response:  # the router never reaches it
        return Response(b"second")

    @r.post("/hot/{name}")
    @direct
    async def parameter(name: str) -> Response:
        return Response(name)

    @r.api_route("/both", methods=["POST", "PUT"])
    @direct
    async def two_methods() -> Response:
        return Response(b"both")

    @r.post("/modelled")
    @direct
    async def modelled() -> dict[str, str]:  # not lean: FastAPI serialises it
        return {"a": "b"}

    @r.post("/plain")
    async def plain() -> Response:  # not marked
        return Response(b"plain")

    return r


def build(*, middleware: bool = True) -> App:
    app = App()
    app.state.container = type("C", (), {"tokens": TokenService(_auth(), SECRET)})()
    problems.install(app)
    include(app, router())
    if middleware:
        app.add_middleware(RequestContextMiddleware, max_body_bytes=64)
    return app


def _auth() -> AuthSettings:
    return AuthSettings(secret=SecretStr(SECRET))


def mint(*scopes: str) -> dict[str, str]:
    token = TokenService(_auth(), SECRET).mint("ana", scopes, 60)
    return {"Authorization": f"Bearer {token}", "X-Trace-Key": "t-1"}


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


async def answers(
    served: Any, requests: list[tuple[str, str, dict[str, str], bytes]]
) -> list[Answer]:
    """Each request's status, raw headers and body from `served` (its first request, to a path
    no route takes, builds the app's stack)."""
    transport = httpx.ASGITransport(app=served)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        await c.get("/nowhere")
        return [
            (r.status_code, r.headers.raw, r.content)
            for r in [
                await c.request(method, path, headers=headers, content=body)
                for method, path, headers, body in requests
            ]
        ]


async def test_only_a_marked_lean_route_with_one_method_first_in_line() -> None:
    app = build()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.post("/shadowed")).content == b"first"
    assert app.direct_routes == {("POST", "/hot"), ("POST", "/hot/{name}")}


async def test_without_our_middleware_alone_nothing_is_served_directly() -> None:
    app = build(middleware=False)  # no layer answering every exception: FastAPI's stack
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        await c.post("/plain")
    assert app.direct_routes == frozenset()


async def test_the_direct_route_answers_as_the_router_does() -> None:
    app = build()
    generic = functools.partial(FastAPI.__call__, app)
    requests = [
        ("POST", "/hot", mint("things:write"), b'{"a": 1}'),
        ("POST", "/hot", mint("other"), b"{}"),  # 403
        ("POST", "/hot", {"X-Trace-Key": "t-1"}, b"{}"),  # 401
        ("POST", "/hot", mint("things:write"), b"x" * 65),  # 413 declared
        ("POST", "/hot", mint("things:write"), b'{"a": "\\u0000"}'),  # 422 NUL
        ("HEAD", "/hot", mint("things:write"), b""),  # 405
        ("POST", "/hot/", mint("things:write"), b"{}"),  # redirect
    ]
    got = [await answers(served, requests) for served in (app, generic)]
    assert got[0] == got[1]
    assert [status for status, _, _ in got[0]] == [202, 403, 401, 413, 422, 405, 307]


class Telemetry:
    """FastAPI's native telemetry as `App` sees it: asked whether it is on; when on, FastAPI
    hands it the request (recorded here, then served by the stack as the real one does)."""

    def __init__(self) -> None:
        self.on = False
        self.asked = 0
        self.traced: list[str] = []

    def enabled(self) -> bool:
        self.asked += 1
        return self.on

    async def __call__(
        self, *, app: Any, scope: Any, receive: Any, send: Any, legacy_otel: bool
    ) -> None:
        self.traced.append(scope["path"])
        await app(scope, receive, send)


async def test_telemetry_set_up_while_serving_takes_the_request_within_the_recheck(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = build()
    telemetry = Telemetry()
    app._native_telemetry = telemetry  # type: ignore[assignment]
    clock = [1000.0]
    monkeypatch.setattr(direct_module.time, "monotonic", lambda: clock[0])
    headers = mint("things:write")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        await c.post("/hot", headers=headers, content=b"{}")  # FastAPI builds its stack
        telemetry.asked = 0
        for _ in range(3):
            assert (await c.post("/hot", headers=headers, content=b"{}")).status_code == 202
        assert telemetry.asked == 1  # "off" trusted for the recheck interval: asked once
        assert telemetry.traced == []

        telemetry.on = True  # a provider set up while serving
        assert (await c.post("/hot", headers=headers, content=b"{}")).status_code == 202
        assert telemetry.traced == []  # still within the interval
        clock[0] += direct_module.TELEMETRY_RECHECK_SECONDS
        for _ in range(2):
            assert (await c.post("/hot", headers=headers, content=b"{}")).status_code == 202
        assert telemetry.traced == ["/hot", "/hot"]  # FastAPI's telemetry path from then on


Reader = Annotated[Principal, Depends(require("things:read"))]


def with_parameters() -> APIRouter:
    r = APIRouter()

    @r.get("/things/special/view")
    async def special() -> Response:  # before the marked route: this path is its own
        return Response(b"special")

    @r.get("/things/{name}/view")
    @direct
    async def view(request: Request, principal: Reader, name: str) -> Response:
        return Response(f"view {name} by {principal.subject}".encode())

    @r.get("/things/{name}/{part}")
    async def part(name: str, part: str) -> Response:  # after it: never reached for `view`
        return Response(f"part {name} {part}".encode())

    @r.get("/spans/{rest:path}")
    @direct
    async def spans(rest: str) -> Response:  # a parameter across segments: the router's
        return Response(rest.encode())

    @r.get("/mounted/{name}/view")
    @direct
    async def under_a_mount(name: str) -> Response:  # the mount before it takes its paths
        return Response(b"never")

    return r


def build_with_parameters() -> tuple[App, list[str]]:
    app = App()
    app.state.container = type("C", (), {"tokens": TokenService(_auth(), SECRET)})()
    problems.install(app)
    mounted: list[str] = []

    async def mount(scope: Any, receive: Any, send: Any) -> None:
        mounted.append(scope["path"])
        await Response(b"mounted")(scope, receive, send)

    app.mount("/mounted", mount)
    include(app, with_parameters())
    app.add_middleware(RequestContextMiddleware, max_body_bytes=64)
    return app, mounted


async def test_a_marked_route_with_parameters_is_served_from_the_entry_unless_shadowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, mounted = build_with_parameters()
    routed: list[str] = []
    generic = FastAPI.__call__

    async def through_the_router(self: FastAPI, scope: Any, receive: Any, send: Any) -> None:
        routed.append(scope["path"])
        await generic(self, scope, receive, send)

    monkeypatch.setattr(FastAPI, "__call__", through_the_router)
    reader = mint("things:read")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        await c.get("/healthz")  # builds the stack
        assert app.direct_routes == {
            ("GET", "/things/{name}/view"),
            ("GET", "/mounted/{name}/view"),
        }
        routed.clear()
        answers = {
            path: (await c.get(path, headers=reader)).content
            for path in ["/things/abc/view", "/things/a%20b/view"]
        }
        assert answers == {
            "/things/abc/view": b"view abc by ana",
            "/things/a%20b/view": b"view a b by ana",
        }
        assert routed == []  # neither went through FastAPI's stack
        assert (await c.get("/things/special/view", headers=reader)).content == b"special"
        assert (await c.get("/mounted/x/view")).content == b"mounted"
        assert mounted == ["/mounted/x/view"]
        assert (await c.get("/spans/a/b")).content == b"a/b"
        assert routed == ["/things/special/view", "/mounted/x/view", "/spans/a/b"]


async def test_a_route_with_parameters_answers_as_the_router_does() -> None:
    app, _ = build_with_parameters()
    generic = functools.partial(FastAPI.__call__, app)
    reader = mint("things:read")
    requests = [
        ("GET", "/things/abc/view", reader),
        ("GET", "/things/special/view", reader),
        ("GET", "/things/abc/other", reader),
        ("GET", "/things/abc/view", mint("other")),  # 403
        ("GET", "/things/abc/view", {"X-Trace-Key": "t-1"}),  # 401
        ("GET", "/things/abc/view/", reader),  # redirect
        ("GET", "/things//view", reader),  # an empty parameter: no match
        ("GET", "/things/a%2Fb/view", reader),  # a decoded `/`: one segment more
        ("HEAD", "/things/abc/view", reader),  # the router's: a 405 (FastAPI adds no HEAD)
        ("POST", "/things/abc/view", reader),  # 405
        ("GET", "/things/abc%00/view", reader),  # a NUL: 400, from the middleware
    ]
    got = [
        await answers(served, [(m, path, h, b"") for m, path, h in requests])
        for served in (app, generic)
    ]
    assert got[0] == got[1]
    assert [status for status, _, _ in got[0]] == [
        200,
        200,
        200,
        403,
        401,
        307,
        404,
        404,
        405,
        405,
        400,
    ]
