"""The error side of the published contract: every operation lists the problem+json answers it
can give, so a client (and the schema-driven fuzzer in the test suite) can rely on the document.

Routes declare what only they know (`responses=problems(404, 409)`, `request_body(Model)`); the
statuses every operation of a kind can answer are added here from the route itself, so no route
has to repeat them and none can forget them:

- 400 on every operation: the request middleware refuses a NUL character in a path, query or
  header, and a body that is not JSON is a 400 wherever a body is read;
- 401 where a bearer token is checked, 403 where a scope is required;
- 413 and 422 where a body or parameters are read (FastAPI's own 422 is re-described: ours is
  problem+json, not its `HTTPValidationError`);
- 503 where the database is behind the route (every authenticated one) with `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from caudal.platform.errors import PROBLEM_JSON
from caudal.platform.http.deps import AUTHENTICATES, BEARER_DOC, BEARER_SCHEME

PROBLEM_REF = "#/components/schemas/Problem"
REF_TEMPLATE = "#/components/schemas/{model}"

MEANINGS: dict[int, str] = {
    400: "Bad request: malformed JSON, a NUL character, or a parameter out of its grammar.",
    401: "No valid bearer token (`Authorization: Bearer <token>`; mint one with caudal token).",
    403: "The token lacks the scope this operation requires.",
    404: "Not found.",
    409: "Conflict with the current state.",
    410: "Gone for good (e.g. a sealed payload whose key was destroyed at its TTL).",
    413: "The body (or its item count) is over the limit.",
    422: "Validation failed; `field` and `errors` name what to fix.",
    503: "A dependency (the database, the bus) is unavailable; retry after `Retry-After`.",
}
NAMES = {
    "bad_request": 400,
    "not_found": 404,
    "conflict": 409,
    "invalid": 422,
    "unavailable": 503,
}


class FieldProblem(BaseModel):
    field: str
    code: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details with a stable `code`."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://caudal.dev/problems/cau-not-found"])
    title: str
    status: int
    code: str = Field(description="Stable, machine-readable: `CAU-...`.")
    detail: str
    instance: str | None = None
    field: str | None = Field(default=None, description="The field at fault, when there is one.")
    errors: list[FieldProblem] | None = None
    trace_key: str | None = Field(default=None, description="Quote it when reporting a problem.")


def problem(status: int, description: str | None = None) -> dict[str, Any]:
    """One OpenAPI response object: problem+json, with Retry-After on a 503."""
    response: dict[str, Any] = {
        "description": description or MEANINGS.get(status, "Error."),
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
    }
    if status == 503:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
        }
    return response


def problems(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the problem statuses only it can answer, e.g.
    `problems(404, 409)`, or with their own description: `problems(not_found="no such run")`
    (keyword = a name of `NAMES`)."""
    out: dict[int | str, dict[str, Any]] = {s: problem(s) for s in statuses}
    for name, text in described.items():
        out[NAMES[name]] = problem(NAMES[name], text)
    return out


_BODY_MODELS: dict[str, type[BaseModel]] = {}


def request_body(model: type[BaseModel], example: Any = None) -> dict[str, Any]:
    """`openapi_extra=` for a route that reads its body itself (to answer its own error codes):
    the body's schema is `model`'s, published under components."""
    _BODY_MODELS[model.__name__] = model
    media: dict[str, Any] = {"schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}
    if example is not None:
        media["example"] = example
    return {"requestBody": {"required": True, "content": {"application/json": media}}}


def install(app: FastAPI) -> None:
    """Publish the document with the problem responses of every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {}).setdefault("schemas", {})
    models: list[type[BaseModel]] = [Problem, *_BODY_MODELS.values()]
    _, defs = models_json_schema([(m, "validation") for m in models], ref_template=REF_TEMPLATE)
    components.update(defs.get("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, methods, route in _routes(app):
        for method in methods:
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is not None and _complete(operation, route):
                schemes = document["components"].setdefault("securitySchemes", {})
                schemes[BEARER_SCHEME] = BEARER_DOC
    return document


def _routes(app: FastAPI) -> Iterator[tuple[str, set[str], APIRoute]]:
    """(published path, methods, route) of every API route, included routers unfolded (FastAPI
    keeps an included router as one entry whose routes carry the effective path)."""
    unfold = getattr(routing, "iter_route_contexts", None)  # FastAPI >= 0.160
    if unfold is None:  # older: app.routes holds every route, flat
        for route in app.routes:
            if isinstance(route, APIRoute) and route.include_in_schema:
                yield route.path_format, set(route.methods or ()), route
        return
    for context in unfold(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema:
            yield str(context.path_format), set(context.methods or ()), route


def _complete(operation: dict[str, Any], route: APIRoute) -> bool:
    """Add the statuses (and the bearer scheme) the route's kind implies; True when the route
    checks a bearer token."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    calls = set(_calls(route.dependant))
    authenticated = any(getattr(c, AUTHENTICATES, False) for c in calls)
    scoped = any(getattr(c, "__name__", "").startswith("require_") for c in calls)
    if authenticated:
        operation["security"] = [{BEARER_SCHEME: []}]
    reads_input = bool(operation.get("parameters")) or "requestBody" in operation
    statuses = [400]
    statuses += [401, 503] if authenticated else []
    statuses += [403] if scoped else []
    statuses += [422] if reads_input else []
    statuses += [413] if "requestBody" in operation else []
    for code in statuses:
        responses.setdefault(str(code), problem(code))
    for key, response in responses.items():
        if key[:1] in ("4", "5"):
            text = response.get("description")
            described = problem(int(key), None if text == "Validation Error" else text)
            response["description"] = described["description"]
            response["content"] = described["content"]
            if "headers" in described:
                response.setdefault("headers", described["headers"])
    operation["responses"] = dict(sorted(responses.items()))
    return authenticated


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)
