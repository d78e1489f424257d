"""Schema registry API: list, show a type's versions, register a version (schemas:write)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from caudal.events import runtime
from caudal.events.registry import version_key
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.errors import CaudalError, not_found
from caudal.platform.http.deps import container, require

router = APIRouter(tags=["schemas"])

_EXAMPLE = {
    "type": "card-purchase",
    "version": "1.1",
    "source": "backend",
    "description": "adds an optional installments count",
    "schema": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "cpf": {"type": "string", "x-caudal-pii": "cpf"},
            "parcelas": {"type": "integer"},
        },
        "required": ["cpf"],
    },
}


@router.get("/v1/schemas", summary="Every registered schema, by type then version.")
async def list_schemas(
    request: Request,
    _: Annotated[Principal, Depends(require(scopes.EVENTS_READ))],
) -> dict[str, Any]:
    registry = await runtime.get(container(request)).catalog.current()
    return {"items": [entry.as_dict() for entry in registry]}


@router.get("/v1/schemas/{event_type}", summary="Every version of one event type, oldest first.")
async def show_schema(
    event_type: str,
    request: Request,
    _: Annotated[Principal, Depends(require(scopes.EVENTS_READ))],
) -> dict[str, Any]:
    registry = await runtime.get(container(request)).catalog.current()
    versions = registry.versions(event_type)
    if not versions:
        raise not_found(f"schema for event type {event_type}", "CAU-EVT-SCHEMA-NOT-FOUND")
    latest = max(versions, key=lambda e: version_key(e.version))
    return {
        "type": event_type,
        "latest": latest.version,
        "versions": [entry.as_dict() for entry in versions],
    }


@router.post(
    "/v1/schemas",
    status_code=201,
    summary="Register a schema version; a version that breaks the previous one is refused.",
    responses={
        200: {"description": "The identical schema was already registered."},
        409: {"description": "Version exists with another schema, or incompatible change."},
        422: {"description": "Not a valid definition or JSON Schema."},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}, "example": _EXAMPLE}},
        }
    },
)
async def register_schema(
    request: Request,
    principal: Annotated[Principal, Depends(require(scopes.SCHEMAS_WRITE))],
) -> Response:
    try:
        raw = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise CaudalError(
            code="CAU-REQ-MALFORMED-JSON",
            detail="the request body is not valid JSON",
            status=400,
            title="Malformed JSON",
            field="body",
        ) from None
    catalog = runtime.get(container(request)).catalog
    entry, created = await catalog.register(raw, principal.subject)
    return Response(
        orjson.dumps(entry.as_dict()),
        status_code=201 if created else 200,
        media_type="application/json",
        headers={"Location": f"/v1/schemas/{entry.type}"},
    )
