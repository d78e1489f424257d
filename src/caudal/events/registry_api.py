"""Schema registry API: list, show a type's versions, register a version (schemas:write)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from caudal.events import runtime
from caudal.events.api_models import SchemaEntry, SchemaList, SchemaVersions
from caudal.events.registry import version_key
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.errors import not_found
from caudal.platform.http.deps import container, json_body, require
from caudal.platform.http.openapi import problems

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


@router.get(
    "/v1/schemas",
    summary="Every registered schema, by type then version.",
    response_model=SchemaList,
)
async def list_schemas(
    request: Request,
    _: Annotated[Principal, Depends(require(scopes.EVENTS_READ))],
) -> dict[str, Any]:
    """Shipped with the package, read from the schema directory, or registered by the API
    (`origin`)."""
    registry = await runtime.get(container(request)).catalog.current()
    return {"items": [entry.as_dict() for entry in registry]}


@router.get(
    "/v1/schemas/{event_type}",
    summary="Every version of one event type, oldest first.",
    response_model=SchemaVersions,
    responses=problems(404),
)
async def show_schema(
    event_type: str,
    request: Request,
    _: Annotated[Principal, Depends(require(scopes.EVENTS_READ))],
) -> dict[str, Any]:
    """`latest` is the highest version registered."""
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
        200: {"model": SchemaEntry, "description": "The identical schema was already registered."},
        201: {"model": SchemaEntry, "description": "Registered."},
        **problems(
            conflict="Version exists with another schema, or incompatible change.",
            invalid="Not a valid definition or JSON Schema.",
        ),
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
    """A new version must stay compatible with the previous one (events valid before stay
    valid); registering the identical schema again is a 200."""
    raw = await json_body(request)
    catalog = runtime.get(container(request)).catalog
    entry, created = await catalog.register(raw, principal.subject)
    return Response(
        orjson.dumps(entry.as_dict()),
        status_code=201 if created else 200,
        media_type="application/json",
        headers={"Location": f"/v1/schemas/{entry.type}"},
    )
