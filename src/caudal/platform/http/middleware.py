"""One pure-ASGI middleware for every request: trace key, body limit, log line, metrics, 500s.

Pure ASGI (not BaseHTTPMiddleware) because it sits on the ingestion hot path.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import orjson
import structlog
from starlette.exceptions import HTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from caudal.platform.cpf_digits import holds_cpf
from caudal.platform.db.pool import deadline_scope
from caudal.platform.errors import PROBLEM_JSON, CaudalError
from caudal.platform.http.nul import JSON_NUL, BodyHasNul, nul_field, nul_refused, scans_body
from caudal.platform.metrics import HTTP_LATENCY, HTTP_REQUESTS
from caudal.platform.uuid_text import random_hex

TRACE_HEADER = "x-trace-key"
_TRACE_OK = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_log = structlog.get_logger("caudal.http")


def too_large(limit: int) -> CaudalError:
    return CaudalError(
        code="CAU-REQ-TOO-LARGE",
        detail=f"the request body exceeds the limit of {limit} bytes; "
        "split it into smaller requests",
        status=413,
        title="Payload too large",
    )


class BodyTooLarge(HTTPException):
    """Raised from `receive`; an HTTPException so FastAPI's body parsing lets it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=str(limit))
        self.limit = limit


async def send_problem(send: Send, error: CaudalError, trace_key: str, path: str) -> None:
    body = error.problem(instance=path)
    body["trace_key"] = trace_key
    payload = orjson.dumps(body)
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(payload)).encode()),
        (TRACE_HEADER.encode(), trace_key.encode()),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, max_body_bytes: int, database_deadline_seconds: float | None = None
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.database_deadline_seconds = database_deadline_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        entry = {"path": scope["path"], "root_path": scope.get("root_path", "")}
        trace_key = _trace_key(scope)
        scope.setdefault("state", {})["trace_key"] = trace_key
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(trace_key=trace_key)
        status = 500
        response_started = False
        limit = self.max_body_bytes

        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await send_problem(send, too_large(limit), trace_key, scope["path"])
            self._record(scope, entry, 413, started)
            return
        bad_field = nul_field(scope)
        if bad_field is not None:
            await send_problem(send, nul_refused(bad_field), trace_key, _printable(scope["path"]))
            self._record(scope, entry, 400, started)
            return

        received = 0
        scan = scans_body(scope)
        tail = b""  # the end of the previous chunk: an escape may straddle two chunks

        async def limited_receive() -> Message:
            nonlocal received, tail
            message = await receive()
            if message["type"] == "http.request":
                chunk: bytes = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise BodyTooLarge(limit)
                if scan and chunk:
                    if JSON_NUL in tail + chunk[: len(JSON_NUL)] or JSON_NUL in chunk:
                        raise BodyHasNul
                    tail = chunk[-(len(JSON_NUL) - 1) :]
            return message

        async def traced_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (TRACE_HEADER.encode(), trace_key.encode()),
                ]
            await send(message)

        try:
            with deadline_scope(self.database_deadline_seconds):
                await self.app(scope, limited_receive, traced_send)
        except BodyTooLarge:
            status = 413
            if not response_started:
                await send_problem(send, too_large(limit), trace_key, scope["path"])
        except BodyHasNul:
            status = 422
            if not response_started:
                await send_problem(send, nul_refused("body", 422), trace_key, scope["path"])
        except Exception:
            error_id = uuid.uuid4().hex
            # The route template, never the path: paths may carry a CPF.
            route = getattr(scope.get("route"), "path", "<unmatched>")
            _log.exception("unhandled_error", error_id=error_id, route=route)
            status = 500
            if not response_started:
                error = CaudalError(
                    code="CAU-INTERNAL",
                    detail=f"an unexpected error occurred; quote error id {error_id} to support",
                    status=500,
                    title="Internal server error",
                    extra={"error_id": error_id},
                )
                await send_problem(send, error, trace_key, scope["path"])
        finally:
            self._record(scope, entry, status, started)
            structlog.contextvars.clear_contextvars()

    @staticmethod
    def _record(scope: Scope, entry: dict[str, str], status: int, started: float) -> None:
        duration = time.perf_counter() - started
        template = route_template(scope, entry)
        method = scope["method"]
        counter, latency = _series(method, template, status)
        counter.inc()
        latency.observe(duration)
        _ACCESS.logger().info(
            "request",
            method=method,
            route=template,
            status=status,
            duration_ms=round(duration * 1000, 3),
        )


class _AccessLog:
    """The access line's logger, bound once per logging configuration.

    structlog's lazy logger binds a fresh logger on every call (a context, the logger factory's
    output, the wrapper): ~5 µs a request on this machine, more than the line's filter at
    `warning` costs. Caching it for good is wrong because the configuration changes (tests,
    `logging.configure` again), so it is bound again whenever the live configuration holds
    other objects than those it was bound with; the binding holds those objects, so an
    identity can never be reused by a new one.
    """

    def __init__(self) -> None:
        self._bound_with: tuple[Any, ...] = ()
        self._logger: Any = None

    def logger(self) -> Any:
        config = structlog.get_config()
        live = (
            config["processors"],
            config["wrapper_class"],
            config["logger_factory"],
            config["context_class"],
        )
        bound = self._bound_with
        if (
            not bound  # never bound; else each object compared by identity, no generator
            or live[0] is not bound[0]
            or live[1] is not bound[1]
            or live[2] is not bound[2]
            or live[3] is not bound[3]
        ):
            self._logger = structlog.get_logger("caudal.http").bind()
            self._bound_with = live
        return self._logger


_ACCESS = _AccessLog()


# The metric series of each (method, route, status) seen, looked up once: `labels()` checks and
# joins its arguments under a lock on every call. Bounded: the method is the client's choice.
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_SERIES_KEPT = 2048


def _series(method: str, template: str, status: int) -> tuple[Any, Any]:
    key = (method, template, status)
    found = _SERIES.get(key)
    if found is None:
        found = (
            HTTP_REQUESTS.labels(method, template, str(status)),
            HTTP_LATENCY.labels(method, template, str(status)),
        )
        if len(_SERIES) < _SERIES_KEPT:
            _SERIES[key] = found
    return found


def route_template(scope: Scope, entry: dict[str, str]) -> str:
    """The template of the route that served the request, for metrics and logs (never the path:
    it may carry a CPF). FastAPI routes name themselves in the scope; a mount (static assets) or
    a plain Starlette route does not, so the app's routes are matched again against the path as
    it arrived. `<unmatched>` is left for requests no route serves (404s)."""
    route: Any = scope.get("route")
    if getattr(route, "path", None):
        return str(route.path)
    router = getattr(scope.get("app"), "router", None)
    probe = {**scope, **entry}
    for candidate in getattr(router, "routes", []):
        if not isinstance(getattr(candidate, "path", None), str):
            continue
        match, _ = candidate.matches(probe)
        if match is not Match.NONE:
            suffix = "/{path}" if isinstance(candidate, Mount) else ""
            return f"{candidate.path}{suffix}"
    return "<unmatched>"


def _printable(path: str) -> str:
    return path.replace("\x00", "%00")


def _trace_key(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-trace-key":
            candidate: str = value.decode("latin-1")
            # the client's key is logged and stored with every event: never one holding a CPF
            if _TRACE_OK.match(candidate) and not holds_cpf(candidate):
                return candidate
            break
    return random_hex()


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
