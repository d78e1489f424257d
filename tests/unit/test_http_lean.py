"""`http.lean`: a route whose parameters need no resolving answers exactly as FastAPI's own
handler would (same statuses, bodies, problem+json errors), and any other route keeps FastAPI's
handler."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.routing import APIRoute
from pydantic import SecretStr
from starlette.requests import ClientDisconnect

from caudal.platform.auth import Principal, TokenService
from caudal.platform.http import lean, problems
from caudal.platform.http.app import include
from caudal.platform.http.deps import require
from caudal.platform.http.middleware import BodyTooLarge
from caudal.platform.settings import AuthSettings

SECRET = "lean-test-secret-0123456789abcdef0123456789"
Reader = Annotated[Principal, Depends(require("things:read"))]
CALLS: list[str] = []  # what `counted` saw
_checked = require("things:read")


async def counted(request: Request) -> Principal:
    CALLS.append("counted")
    return await _checked(request)


Counted = Annotated[Principal, Depends(counted)]


def router() -> APIRouter:
    r = APIRouter()

    @r.get("/things/{name}/owner")
    async def owner(request: Request, principal: Reader, name: str) -> Response:
        body = f'{{"name": "{name}", "by": "{principal.subject}", "path": "{request.url.path}"}}'
        return Response(body, media_type="application/json")

    @r.get("/twice", dependencies=[Depends(counted)])
    async def twice(principal: Counted) -> Response:
        return Response(principal.subject)

    @r.get("/paged/{name}")
    async def paged(principal: Reader, name: str, page: int = 1) -> Response:
        return Response(f"{name}:{page}")

    @r.get("/numbered/{number}")
    async def numbered(principal: Reader, number: int) -> Response:
        return Response(str(number))

    @r.get("/modelled/{name}")
    async def modelled(principal: Reader, name: str) -> dict[str, str]:
        return {"name": name}

    return r


def app_with(flat: bool) -> FastAPI:
    """The same routes, through `include` (lean where they qualify) or FastAPI's own handler."""
    app = FastAPI()
    tokens = TokenService(AuthSettings(secret=SecretStr(SECRET)), SECRET)
    app.state.container = SimpleNamespace(tokens=tokens)  # all the auth reads of a container
    problems.install(app)
    if flat:
        include(app, router())
    else:
        app.include_router(router())  # a prefix-less include, FastAPI's handler
    return app


def mint(*scopes: str) -> dict[str, str]:
    token = TokenService(AuthSettings(secret=SecretStr(SECRET)), SECRET).mint("ana", scopes, 60)
    return {"Authorization": f"Bearer {token}"}


def requests() -> list[tuple[str, dict[str, str]]]:
    """Minted when the test runs: tokens live 60 s, and a whole suite can run for minutes
    after this module is collected."""
    return [
        ("/things/lamp/owner", mint("things:read")),
        ("/things/lamp/owner", mint("other:scope")),  # 403
        ("/things/lamp/owner", {}),  # 401, no token
        ("/things/lamp/owner", {"Authorization": "Bearer not-a-jwt"}),  # 401
        ("/things/l%C3%A2mpada/owner", mint("things:read")),
        ("/twice", mint("things:read")),
        ("/paged/x?page=2", mint("things:read")),
        ("/paged/x?page=zz", mint("things:read")),  # 422 from FastAPI's validation
        ("/numbered/7", mint("things:read")),
        ("/numbered/seven", mint("things:read")),  # 422
        ("/modelled/x", mint("things:read")),
    ]


async def answers(app: FastAPI) -> list[tuple[int, str, bytes]]:
    transport = httpx.ASGITransport(app=app)
    out = []
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for path, headers in requests():
            r = await client.get(path, headers=headers)
            out.append((r.status_code, r.headers.get("content-type", ""), r.content))
    return out


async def test_a_lean_route_answers_as_fastapis_handler_does() -> None:
    CALLS.clear()
    expected = await answers(app_with(flat=False))
    fastapi_calls = list(CALLS)
    CALLS.clear()
    got = await answers(app_with(flat=True))
    lean_calls = list(CALLS)
    assert got == expected
    assert [status for status, _, _ in got] == [
        200,
        403,
        401,
        401,
        200,
        200,
        200,
        422,
        200,
        422,
        200,
    ]
    assert got[0][2] == b'{"name": "lamp", "by": "ana", "path": "/things/lamp/owner"}'
    assert b"l\xc3\xa2mpada" in got[4][2]  # the decoded path parameter, as FastAPI gives it
    assert lean_calls == fastapi_calls == ["counted"]  # a dependency named twice runs once


def test_only_routes_whose_parameters_need_no_resolving_are_served_lean() -> None:
    routes = {r.path: r for r in router().routes if isinstance(r, APIRoute)}
    assert lean.lean_app(routes["/things/{name}/owner"]) is not None
    assert lean.lean_app(routes["/twice"]) is not None
    assert lean.lean_app(routes["/paged/{name}"]) is None  # a query parameter
    assert lean.lean_app(routes["/numbered/{number}"]) is None  # an int path parameter
    assert lean.lean_app(routes["/modelled/{name}"]) is None  # returns a model, not a Response


@pytest.mark.parametrize("flat", [True, False])
async def test_an_endpoint_error_is_the_apps_problem_json(flat: bool) -> None:
    app = app_with(flat=flat)
    broken = APIRouter()

    @broken.get("/broken/{name}")
    async def fails(principal: Reader, name: str) -> Response:
        from caudal.platform.errors import not_found

        raise not_found("thing", "CAU-TEST-NOT-FOUND")

    if flat:
        include(app, broken)
    else:
        app.include_router(broken)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/broken/x", headers=mint("things:read"))
    body: dict[str, Any] = r.json()
    assert (r.status_code, r.headers["content-type"]) == (404, "application/problem+json")
    assert body["code"] == "CAU-TEST-NOT-FOUND"


def _request(messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]]) -> Request:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    return Request(scope, receive)


async def test_body_of_reads_what_request_body_reads() -> None:
    chunks = [
        {"type": "http.request", "body": b'{"a":', "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b' "b"}', "more_body": False},
        {"type": "http.request", "body": b"never read"},
    ]
    ours, starlettes = _request(chunks, []), _request(chunks, [])
    assert await lean.body_of(ours) == await starlettes.body() == b'{"a": "b"}'
    assert await ours.body() == b'{"a": "b"}'  # read again: the same bytes, nothing received
    assert await lean.body_of(ours) == b'{"a": "b"}'
    with pytest.raises(ClientDisconnect):
        await lean.body_of(_request([{"type": "http.disconnect"}], []))


async def test_body_of_lets_receives_errors_through() -> None:
    async def receive() -> dict[str, Any]:
        raise BodyTooLarge(10)

    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)
    with pytest.raises(BodyTooLarge):
        await lean.body_of(request)


def test_header_is_what_starlettes_headers_give() -> None:
    raw = [(b"authorization", b"Bearer x\xe9"), (b"x-a", b"1"), (b"x-a", b"2")]
    request = _request([], raw)
    for name in (b"authorization", b"x-a", b"idempotency-key"):
        assert lean.header(request, name) == request.headers.get(name.decode())
    assert lean.header(request, b"x-a") == "1"
    assert lean.header(request, b"missing") is None


@pytest.mark.parametrize(
    ("status", "media_type"), [(202, "application/json"), (422, "application/problem+json")]
)
def test_a_bytes_response_is_starlettes_response(status: int, media_type: str) -> None:
    body = b'{"accepted": []}'
    ours = lean.BytesResponse(body, status, media_type)
    theirs = Response(body, status_code=status, media_type=media_type)
    assert (ours.status_code, ours.raw_headers, ours.body, ours.background) == (
        theirs.status_code,
        theirs.raw_headers,
        theirs.body,
        theirs.background,
    )
    assert ours.raw_headers == [
        (b"content-length", b"16"),
        (b"content-type", media_type.encode()),
    ]
