"""Exception handlers: every error leaves as application/problem+json with a stable code."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from caudal.platform.db.pool import DatabaseUnavailable
from caudal.platform.errors import PROBLEM_JSON, CaudalError, FieldError, unavailable
from caudal.platform.http.middleware import BodyTooLarge, too_large
from caudal.platform.http.nul import BodyHasNul, nul_refused

_HTTP_CODES = {
    404: ("CAU-NOT-FOUND", "Not found"),
    405: ("CAU-METHOD-NOT-ALLOWED", "Method not allowed"),
    406: ("CAU-NOT-ACCEPTABLE", "Not acceptable"),
    415: ("CAU-UNSUPPORTED-MEDIA-TYPE", "Unsupported media type"),
}


def problem_response(request: Request, error: CaudalError) -> JSONResponse:
    body = error.problem(instance=request.url.path)
    body["trace_key"] = getattr(request.state, "trace_key", None)
    return JSONResponse(
        body, status_code=error.status, headers=error.headers, media_type=PROBLEM_JSON
    )


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def from_validation(exc: RequestValidationError) -> CaudalError:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        return CaudalError(
            code="CAU-REQ-MALFORMED-JSON",
            detail="the request body is not valid JSON",
            status=400,
            title="Malformed JSON",
            field="body",
        )
    field_errors = [
        FieldError(
            field=_field_path(tuple(e.get("loc", ()))),
            code="CAU-REQ-" + str(e.get("type", "invalid")).upper().replace("_", "-"),
            message=str(e.get("msg", "invalid value")),
        )
        for e in errors
    ]
    first = field_errors[0] if field_errors else FieldError("body", "CAU-REQ-INVALID", "invalid")
    return CaudalError(
        code="CAU-REQ-VALIDATION",
        detail=f"{first.field}: {first.message}",
        status=422,
        title="Validation failed",
        field=first.field,
        errors=field_errors,
    )


def install(app: FastAPI) -> None:
    async def on_caudal(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CaudalError)
        return problem_response(request, exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(request, from_validation(exc))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if isinstance(exc, BodyTooLarge):
            return problem_response(request, too_large(exc.limit))
        if isinstance(exc, BodyHasNul):
            return problem_response(request, nul_refused("body", 422))
        code, title = _HTTP_CODES.get(exc.status_code, (f"CAU-HTTP-{exc.status_code}", "Error"))
        error = CaudalError(
            code=code,
            detail=str(exc.detail),
            status=exc.status_code,
            title=title,
            headers=dict(exc.headers or {}),
        )
        return problem_response(request, error)

    async def on_db_down(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            request, unavailable("the database is unavailable; retry after the delay given")
        )

    app.add_exception_handler(CaudalError, on_caudal)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(DatabaseUnavailable, on_db_down)
