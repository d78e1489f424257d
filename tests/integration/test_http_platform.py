"""The platform's HTTP behaviour: health, readiness, metrics, auth, problem+json, limits, logs."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated

import httpx
import pytest
import structlog.testing
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel

from caudal import wiring
from caudal.bus.adapters import build_bus
from caudal.platform import logging as caudal_logging
from caudal.platform.auth import Principal
from caudal.platform.bootstrap import Container
from caudal.platform.http.app import create_app
from caudal.platform.http.deps import require

PROBLEM = "application/problem+json"


class Thing(BaseModel):
    name: str
    amount: int


def probe_router() -> APIRouter:
    """Routes that exercise the shared machinery (scopes, validation, crashes) in this test only."""
    router = APIRouter()

    @router.get("/probe/ledger")
    async def scoped(
        principal: Annotated[Principal, Depends(require("ledger:read"))],
    ) -> dict[str, str]:
        return {"subject": principal.subject}

    @router.post("/probe/things")
    async def create(thing: Thing) -> Thing:
        return thing

    @router.get("/probe/crash")
    async def crash() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    return router


@pytest.fixture
def app(container: Container) -> FastAPI:
    application = create_app(container, wiring.capabilities())
    application.include_router(probe_router())
    return application


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    caudal_logging.configure("info", stream=stream)
    yield stream
    caudal_logging.configure("info")


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_readyz_is_503_when_migrations_are_missing(pg_cluster, settings) -> None:  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    from caudal.platform.bootstrap import bootstrap

    with pg_cluster.database(migrated=False) as empty_url:
        empty = settings.model_copy(update={"database_url": SecretStr(empty_url)})
        # The app role exists cluster-wide (the template made it); this database has no tables.
        container = bootstrap(empty, bus=build_bus, migrate=False, configure_logging=False)
        application = create_app(container, wiring.capabilities())
        async with (
            application.router.lifespan_context(application),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=application), base_url="http://t"
            ) as http,
        ):
            response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"]
    body = response.json()
    assert body["code"] == "CAU-UNAVAILABLE"
    assert "caudal migrate" in body["detail"]


async def test_readyz_is_503_when_the_database_is_unreachable(settings) -> None:  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    from caudal.platform.bootstrap import bootstrap

    down = settings.model_copy(
        update={"database_url": SecretStr("postgresql://caudal@127.0.0.1:1/nowhere")}
    )
    container = bootstrap(down, bus=build_bus, migrate=False, configure_logging=False)
    application = create_app(container, wiring.capabilities())
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://t"
        ) as http,
    ):
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["detail"] == "database unreachable"


async def test_whoami_without_token_is_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/whoami")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["code"] == "CAU-AUTH-MISSING-TOKEN"
    assert body["status"] == 401
    assert body["instance"] == "/v1/whoami"
    assert body["trace_key"] == response.headers["x-trace-key"]


async def test_whoami_with_token_answers_subject_and_scopes(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    response = await client.get(
        "/v1/whoami", headers=auth("ledger:read", "events:write", subject="ana")
    )
    assert response.status_code == 200
    assert response.json() == {"subject": "ana", "scopes": ["events:write", "ledger:read"]}


async def test_bad_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/whoami", headers={"Authorization": "Bearer abc.def.ghi"})
    assert response.status_code == 401
    assert response.json()["code"] == "CAU-AUTH-INVALID-TOKEN"
    basic = await client.get("/v1/whoami", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 401


async def test_the_authorization_header_reads_as_the_bearer_scheme_did(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    """What FastAPI's `HTTPBearer` admitted, the one-level auth dependency admits: the scheme in
    any case, the credential after one space (surrounding blanks ignored); anything else is the
    401 asking for a token, before any scope is looked at (a 401, never a 403)."""
    token = auth("ledger:read", subject="eve")["Authorization"].removeprefix("Bearer ")
    for header in (f"bearer {token}", f"BEARER   {token}  "):
        answer = await client.get("/probe/ledger", headers={"Authorization": header})
        assert (answer.status_code, answer.json()) == (200, {"subject": "eve"})
    for header in ("Bearer", "Bearer    ", f"Basic {token}", f"Token {token}", f" {token}"):
        refused = await client.get("/probe/ledger", headers={"Authorization": header})
        assert refused.status_code == 401, header
        assert refused.json()["code"] == "CAU-AUTH-MISSING-TOKEN", header
        assert refused.headers["www-authenticate"] == 'Bearer realm="caudal"'


async def test_missing_scope_is_403_and_right_scope_passes(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    denied = await client.get("/probe/ledger", headers=auth("events:write"))
    assert denied.status_code == 403
    assert denied.headers["content-type"] == PROBLEM
    assert denied.json()["code"] == "CAU-AUTH-FORBIDDEN"
    assert denied.json()["required_scope"] == "ledger:read"
    allowed = await client.get("/probe/ledger", headers=auth("ledger:read", subject="bob"))
    assert allowed.json() == {"subject": "bob"}


async def test_validation_error_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/probe/things", json={"name": "x", "amount": "lots"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "CAU-REQ-VALIDATION"
    assert body["field"] == "amount"
    assert body["errors"][0]["field"] == "amount"


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/probe/things", content=b'{"name": "x",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "CAU-REQ-MALFORMED-JSON"


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "CAU-NOT-FOUND"


async def test_body_over_limit_is_413_by_header_and_by_stream(client: httpx.AsyncClient) -> None:
    big = b"x" * (1024 * 1024 + 1)
    declared = await client.post(
        "/probe/things", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["code"] == "CAU-REQ-TOO-LARGE"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(20):
            yield b"x" * 65536

    streamed = await client.post(
        "/probe/things", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert streamed.json()["code"] == "CAU-REQ-TOO-LARGE"
    assert (await client.get("/healthz")).status_code == 200


async def test_unhandled_error_is_500_with_error_id_in_the_log(
    client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    response = await client.get("/probe/crash")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "CAU-INTERNAL"
    assert "Traceback" not in response.text and "hunter2" not in response.text
    logged = [line for line in lines(log_stream) if line.get("event") == "unhandled_error"]
    assert logged and logged[0]["error_id"] == body["error_id"]


async def test_trace_key_is_echoed_or_generated_and_logged(
    client: httpx.AsyncClient, log_stream: io.StringIO, auth: Callable[..., dict[str, str]]
) -> None:
    headers = {"X-Trace-Key": "order-42:abc", **auth("events:write")}
    echoed = await client.get("/v1/whoami", headers=headers)
    assert echoed.headers["x-trace-key"] == "order-42:abc"
    generated = await client.get("/healthz", headers={"X-Trace-Key": "bad key with spaces"})
    assert len(generated.headers["x-trace-key"]) == 32

    requests = [line for line in lines(log_stream) if line.get("event") == "request"]
    whoami = next(line for line in requests if line["trace_key"] == "order-42:abc")
    assert whoami["method"] == "GET"
    assert whoami["route"] == "/v1/whoami"
    assert whoami["status"] == 200
    assert isinstance(whoami["duration_ms"], float)
    assert whoami["level"] == "info"
    token = headers["Authorization"].split()[1]
    assert token not in log_stream.getvalue()


async def test_the_access_line_follows_every_change_of_the_logging_configuration(
    client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    headers = {"X-Trace-Key": "first"}
    await client.get("/healthz", headers=headers)
    quieter, again = io.StringIO(), io.StringIO()
    caudal_logging.configure("warning", stream=quieter)
    await client.get("/healthz", headers={"X-Trace-Key": "filtered"})
    caudal_logging.configure("info", stream=again)
    await client.get("/healthz", headers={"X-Trace-Key": "second"})
    with structlog.testing.capture_logs() as captured:
        await client.get("/healthz", headers={"X-Trace-Key": "captured"})
    await client.get("/healthz", headers={"X-Trace-Key": "restored"})
    assert access_keys(log_stream) == ["first"]
    assert access_keys(quieter) == []
    assert [c["route"] for c in captured if c["event"] == "request"] == ["/healthz"]
    assert access_keys(again) == ["second", "restored"]


def access_keys(stream: io.StringIO) -> list[object]:
    return [line["trace_key"] for line in lines(stream) if line.get("event") == "request"]


@pytest.mark.parametrize("key", ["529.982.247-25", "cliente-52998224725", "52998224725"])
async def test_a_trace_key_holding_a_cpf_is_replaced_never_logged(
    client: httpx.AsyncClient, log_stream: io.StringIO, key: str
) -> None:
    kept = await client.get("/healthz", headers={"X-Trace-Key": "529.982.247-24"})  # no CPF
    assert kept.headers["x-trace-key"] == "529.982.247-24"
    replaced = await client.get("/healthz", headers={"X-Trace-Key": key})
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-trace-key"])
    assert "52998224725" not in log_stream.getvalue().replace(".", "").replace("-", "")


async def test_metrics_count_requests_by_route_and_status(client: httpx.AsyncClient) -> None:
    await client.get("/v1/whoami")
    text = (await client.get("/metrics")).text
    assert 'caudal_http_requests_total{method="GET",route="/v1/whoami",status="401"}' in text
    assert (
        'caudal_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/whoami",status="401"}'
        in text
    )


async def test_openapi_docs_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/whoami" in spec["paths"]


async def test_docs_and_redoc_work_offline_from_local_assets(client: httpx.AsyncClient) -> None:
    for page, assets in [
        ("/docs", ["/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"]),
        ("/redoc", ["/docs/assets/redoc.standalone.js"]),
    ]:
        html = await client.get(page)
        assert html.status_code == 200, page
        assert "http://" not in html.text and "https://" not in html.text.replace(
            "https://github.com", ""
        ), f"{page} refers to a remote asset"
        for asset in assets:
            assert asset in html.text
            served = await client.get(asset)
            assert served.status_code == 200 and len(served.content) > 10_000, asset
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "caudal"


async def test_metrics_label_mounted_assets_and_pages_by_their_route_template(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/docs/assets/swagger-ui.css")).status_code == 200
    assert (await client.get("/static/app.css")).status_code == 200
    assert (await client.get("/login")).status_code == 200
    assert (await client.get("/no/such/route")).status_code == 404
    text = (await client.get("/metrics")).text
    seen = {
        (line.split('route="', 1)[1].split('"', 1)[0], line.split('status="', 1)[1][:3])
        for line in text.splitlines()
        if line.startswith("caudal_http_requests_total{")
    }
    assert ("/docs/assets/{path}", "200") in seen
    assert ("/static/{name}", "200") in seen
    assert ("/login", "200") in seen
    assert ("<unmatched>", "404") in seen  # only what no route serves
    assert ("<unmatched>", "200") not in seen
