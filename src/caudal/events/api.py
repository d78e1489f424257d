"""Ingestion API (seed 000): `POST /v1/events/frontend`, `/backend`, `/batch` (scope events:write).

The hot path reads the raw body once with orjson (no request model), validates against the
schema registry in memory, and makes everything durable in one database round trip.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from caudal.events import runtime
from caudal.events.api_models import IngestAnswer
from caudal.events.ingest import answer_for, request_hash
from caudal.events.intake import Intake, Intaker
from caudal.events.limits import unsafe_number
from caudal.events.registry import BUDGET_EXCEEDED
from caudal.events.safe_schema import validation_budget
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.cpf_digits import holds_cpf
from caudal.platform.db.pool import DatabaseUnavailable
from caudal.platform.errors import CaudalError, unavailable
from caudal.platform.http import lean
from caudal.platform.http.deps import container, require
from caudal.platform.http.direct import direct
from caudal.platform.http.openapi import problem

router = APIRouter(tags=["events"])
_KEY_OK = re.compile(r"^[\x21-\x7e]{1,255}$")

Writer = Annotated[Principal, Depends(require(scopes.EVENTS_WRITE))]

_ACCEPTED_EXAMPLE = {
    "accepted": [{"index": 0, "id": "5b0c7c8e-2f7a-4a53-9d0a-1c1f7f0f2a11"}],
    "rejected": [
        {
            "index": 1,
            "code": "CAU-EVT-TIMESTAMP",
            "message": "`timestamp` needs a UTC offset such as -0300, -03:00 or Z",
            "field": "data[1].timestamp",
            "reason": "invalid_envelope",
            "quarantine_id": "0f5e...",
        }
    ],
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {
        "model": IngestAnswer,
        "description": "Durable on the bus: accepted ids and, per rejected item, why.",
        "content": {"application/json": {"example": _ACCEPTED_EXAMPLE}},
    },
    400: problem(400, "Malformed JSON (CAU-REQ-MALFORMED-JSON)."),
    413: problem(413, "Body or item count over the limit."),
    422: problem(422, "Invalid shape, or every event rejected (kept in quarantine)."),
    503: problem(503, "Database or bus unavailable; retry after Retry-After."),
}


def _parse(body: bytes) -> Any:
    # A `\\u0000` never gets here: the HTTP middleware refuses it (CAU-REQ-NUL).
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "infinity" in str(exc):
            raise _number_range("body") from None
        deep = "depth limit" in str(exc) or "recursion" in str(exc)
        raise CaudalError(
            code="CAU-EVT-TOO-DEEP" if deep else "CAU-REQ-MALFORMED-JSON",
            detail="the body nests too deep" if deep else "the request body is not valid JSON",
            status=422 if deep else 400,
            title="Invalid event payload" if deep else "Malformed JSON",
            field="body",
        ) from None
    where = unsafe_number(parsed, body)
    if where is not None:
        raise _number_range(where)
    return parsed


def _number_range(where: str) -> CaudalError:
    return CaudalError(
        code="CAU-EVT-NUMBER-RANGE",
        detail="numbers in events must be finite, and integers within ±2^63 (int64): "
        "send larger values as strings",
        status=422,
        title="Invalid event payload",
        field=where,
    )


# Validation first runs on the event loop within a slice too short to be felt: almost every
# event passes the compiled fast path (linear-time RE2 patterns) in microseconds. Only a request
# with an item that exhausts the slice is validated again, on a worker thread, within the full
# budget (CAUDAL_EVENTS__VALIDATION_BUDGET_SECONDS). A thread hop for every request cost ~40 % of
# the ingestion rate on 2 cores (`bench/ingest_http.py --concurrency 16 --batches 1`: 1,048 req/s
# with it, 1,861 without), and the loop still never waits longer than the slice.
INLINE_SLICE_SECONDS = 0.002


def _within_budget(seconds: float, intake: Callable[..., Intake], *args: Any, **kw: Any) -> Intake:
    with validation_budget(seconds):
        return intake(*args, **kw)


async def _ingest(
    request: Request,
    principal: Principal,
    build: Callable[[Intaker], Callable[..., Intake]],
) -> Response:
    c = container(request)
    events = runtime.get(c)
    key = lean.header(request, b"idempotency-key")
    if key is not None and (not _KEY_OK.match(key) or holds_cpf(key)):  # the key is stored
        raise CaudalError(
            code="CAU-EVT-IDEMPOTENCY-KEY",
            detail="Idempotency-Key must be 1 to 255 visible ASCII characters, holding no CPF",
            status=422,
            title="Invalid header",
            field="Idempotency-Key",
        )
    raw = await lean.body_of(request)
    body = _parse(raw)
    trace_key: str | None = request.scope.get("state", {}).get("trace_key")
    received_at = datetime.now(UTC)
    route: str = request.scope["path"]
    try:
        registry = await events.catalog.current()
        validate = build(Intaker(registry, events.limits, runtime.cpf_tokens(c)))
        kw: dict[str, Any] = {
            "received_at": received_at,
            "trace_key": trace_key,
            "subject": principal.subject,
            "raw": raw,  # a fast negative filter for CPF values (`personal.may_hold_cpf`)
        }
        intake = _within_budget(INLINE_SLICE_SECONDS, validate, body, **kw)
        if intake.rejections and any(r.code == BUDGET_EXCEEDED for r in intake.rejections):
            budget = c.settings.events.validation_budget_seconds
            intake = await asyncio.to_thread(_within_budget, budget, validate, body, **kw)
        answer = await events.ingest.submit(
            intake,
            answer=answer_for(intake, route, trace_key),
            route=route,
            subject=principal.subject,
            received_at=received_at,
            trace_key=trace_key,
            idempotency_key=key,
            body_hash=request_hash(route, raw) if key is not None else "",
        )
    except DatabaseUnavailable:
        raise unavailable(
            "the event bus is unavailable or did not answer in time; retry after the delay "
            "given (with the same Idempotency-Key a retry is never stored twice)",
            c.settings.events.retry_after_seconds,
        ) from None
    return lean.BytesResponse(answer.body, answer.status, answer.media_type)


_FRONTEND_BODY = {
    "device": {"platform": "Android", "deviceId": "je28c5slx5aoj1bx4"},
    "data": [
        {"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_button_help"},
        {"timestamp": "2020-10-12T20:04:07-0300", "event_id": "click_button_next"},
    ],
}
_BACKEND_BODY = {
    "eventType": "selfie-uploaded",
    "eventDateTime": "2020-10-12T21:38:43-0300",
    "version": "1.0",
    "data": {"selfield": "cc9aa584d6be"},
}


def _body_doc(example: Any) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}, "example": example}},
        }
    }


@router.post(
    "/v1/events/frontend",
    status_code=202,
    summary="Ingest frontend events (seed 000): one device, many items.",
    responses=_RESPONSES,
    openapi_extra=_body_doc(_FRONTEND_BODY),
)
@direct
async def frontend(request: Request, principal: Writer) -> Response:
    """Each item is validated on its own: the valid ones are accepted, the others listed in
    `rejected` and kept in quarantine. `Idempotency-Key` makes a retry answer the same."""
    return await _ingest(request, principal, lambda i: i.frontend)


@router.post(
    "/v1/events/backend",
    status_code=202,
    summary="Ingest one backend event (seed 000), validated against its registered schema.",
    responses=_RESPONSES,
    openapi_extra=_body_doc(_BACKEND_BODY),
)
@direct
async def backend(request: Request, principal: Writer) -> Response:
    """`eventType` and `version` pick the registered schema; an event that fails it is a 422
    and is kept in quarantine. `Idempotency-Key` makes a retry answer the same."""
    return await _ingest(request, principal, lambda i: i.backend)


@router.post(
    "/v1/events/batch",
    status_code=202,
    summary='Ingest many backend events: a JSON array, or {"events": [...]}.',
    responses=_RESPONSES,
    openapi_extra=_body_doc({"events": [_BACKEND_BODY]}),
)
@direct
async def batch(request: Request, principal: Writer) -> Response:
    """Every event is validated on its own and made durable in one round trip; 202 lists the
    accepted ids and the rejected items (kept in quarantine)."""
    return await _ingest(request, principal, lambda i: i.batch)
