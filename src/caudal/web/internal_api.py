"""Call caudal's own HTTP API in-process, as the signed-in user (their token, their scopes).

The pages read every capability through its documented routes, so the dashboard never duplicates
another domain's SQL and every scope check of the API applies to the browser too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.types import ASGIApp

BASE_URL = "http://caudal.internal"


@dataclass(frozen=True)
class ApiResult:
    status: int
    body: Any
    content: bytes
    headers: httpx.Headers

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        """The problem's human message (never a stack trace: the API never sends one)."""
        if isinstance(self.body, dict):
            detail = self.body.get("detail")
            code = self.body.get("code")
            if detail:
                return f"{detail} ({code})" if code else str(detail)
        return f"the API answered {self.status}"


def route_paths(app: Any) -> set[str]:
    """The API's route templates, from its OpenAPI document (built once, then cached by FastAPI;
    it lists every API route, however deeply routers are included)."""
    openapi = getattr(app, "openapi", None)
    if callable(openapi):
        return set(openapi().get("paths", {}))
    return {str(path) for r in getattr(app, "routes", []) if (path := getattr(r, "path", None))}


def has_route(app: Any, path: str) -> bool:
    return path in route_paths(app)


class InternalApi:
    def __init__(self, app: ASGIApp, token: str, trace_key: str | None = None) -> None:
        self._transport = httpx.ASGITransport(app=app)
        self._headers = {"Authorization": f"Bearer {token}"}
        if trace_key:
            self._headers["X-Trace-Key"] = trace_key

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        accept: str = "application/json",
    ) -> ApiResult:
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        headers = {**self._headers, "Accept": accept}

        request = httpx.Request(method, BASE_URL + path, params=clean, json=json, headers=headers)

        async def call() -> httpx.Response:
            # The transport alone, without an httpx client: a client logs every URL at INFO,
            # and these URLs may hold a CPF (`/clientes/{cpf}/consultar`). A task of its own,
            # so the inner request's log context never clears the outer one's.
            response = await self._transport.handle_async_request(request)
            await response.aread()
            return response

        response = await asyncio.create_task(call())
        body: Any = None
        kind = response.headers.get("content-type", "")
        if "json" in kind and response.content:
            try:
                body = response.json()
            except ValueError:
                body = None
        return ApiResult(response.status_code, body, response.content, response.headers)

    async def get(self, path: str, **params: Any) -> ApiResult:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, json: Any = None, **params: Any) -> ApiResult:
        return await self.request("POST", path, params=params, json=json)
