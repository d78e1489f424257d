"""Base A HTTP API (scope `customers:pii`): seed 002's `/clientes`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from caudal.customers import cpf as cpf_rules
from caudal.customers.api_models import ClienteOut, ClientePage
from caudal.customers.base_a import profile, service
from caudal.customers.http_support import actor, customers
from caudal.customers.pagination import envelope
from caudal.customers.validation import Cliente, Divida, parse
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.errors import validation_error
from caudal.platform.http.deps import json_body, require
from caudal.platform.http.openapi import problems, request_body

router = APIRouter(tags=["customers: Base A"])
Pii = Annotated[Principal, Depends(require(scopes.CUSTOMERS_PII))]
Mask = Annotated[bool, Query(description="Mask CPF, name, birth date and street.")]


def _shown(customer_id: str, document: dict[str, Any], mask: bool) -> dict[str, Any]:
    return profile.present(customer_id, document, masked=mask)


# `/clientes` and `/clientes/` both answer (as Django REST Framework's routes would with a
# slash): no 307 redirect that a client might not follow with its body and token.
@router.post("/clientes/", status_code=201, include_in_schema=False)
@router.post(
    "/clientes",
    summary="Create a customer, or update the one with this CPF.",
    status_code=201,
    responses={
        200: {"model": ClienteOut, "description": "Updated"},
        201: {"model": ClienteOut, "description": "Created"},
    },
    openapi_extra=request_body(Cliente),
)
async def create_or_update(request: Request, principal: Pii) -> JSONResponse:
    """The CPF identifies the customer: a new one is created (201, `Location`), a known one
    replaced (200). Sealed in Base A; a bad field is a 422 whose code names it
    (`CAU-CUSTOMERS-INVALID-<FIELD>`)."""
    cliente = parse(Cliente, await json_body(request))
    ctx = customers(request)
    created, customer_id = await service.upsert(ctx, actor(request, principal), cliente)
    from caudal.customers.base_a.profile import to_document

    shown = _shown(customer_id, to_document(cliente), False)
    return JSONResponse(
        shown,
        status_code=201 if created else 200,
        headers={"Location": f"/clientes/{customer_id}"},
    )


@router.get("/clientes/", include_in_schema=False)
@router.get(
    "/clientes",
    summary="Find customers by name words and/or CPF (one is required); a page past the last "
    "is 404.",
    response_model=ClientePage,
    responses=problems(404, 422),
)
async def list_customers(
    request: Request,
    principal: Pii,
    nome: Annotated[str | None, Query(max_length=200)] = None,
    cpf: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int | None, Query(ge=1, le=100)] = None,
    mask: Mask = False,
) -> dict[str, Any]:
    """`nome` matches customers having every word given (blind indexes: the names are never
    decrypted to search); `cpf` in any punctuation."""
    ctx = customers(request)
    if not nome and not cpf:
        # Least privilege: find customers, never page through all of them (so does Base A's
        # search function for the application role).
        raise validation_error(
            "nome", "CAU-CUSTOMERS-FILTER-REQUIRED", "give `nome` (name words) or `cpf` to search"
        )
    digits = None
    if cpf:
        try:
            digits = cpf_rules.normalize(cpf)
        except cpf_rules.InvalidCpf as exc:
            raise validation_error("cpf", "CAU-CUSTOMERS-INVALID-CPF", str(exc)) from None
    size = page_size or ctx.settings.page_size
    count, found = await service.search(
        ctx, actor(request, principal), nome=nome, cpf_digits=digits, page=page, page_size=size
    )
    params = {
        "nome": nome,
        "cpf": cpf,
        "page_size": page_size,
        "mask": "true" if mask else None,
    }
    results = [_shown(cid, doc, mask) for cid, doc in found]
    return envelope("/clientes", params, page, size, count, results)


@router.get(
    "/clientes/{customer_id}",
    summary="One customer (seed 002 shape).",
    response_model=ClienteOut,
    responses=problems(404),
)
async def get_customer(
    request: Request, principal: Pii, customer_id: str, mask: Mask = False
) -> dict[str, Any]:
    """Decrypted for this request and recorded in the audit log."""
    document = await service.read(customers(request), actor(request, principal), customer_id)
    return _shown(str(document.pop("id")), document, mask)


@router.delete(
    "/clientes/{customer_id}",
    status_code=204,
    summary="Erase a customer (LGPD): destroys its data key; Bases B and C follow by event.",
    responses=problems(404),
)
async def erase_customer(request: Request, principal: Pii, customer_id: str) -> Response:
    """Crypto-shredding: without its key the sealed record can never be read again."""
    await service.erase(customers(request), actor(request, principal), customer_id)
    return Response(status_code=204)


@router.post(
    "/clientes/{customer_id}/dividas",
    status_code=201,
    summary="Add a debt; returns the customer.",
    response_model=ClienteOut,
    responses=problems(404),
    openapi_extra=request_body(Divida),
)
async def add_debt(request: Request, principal: Pii, customer_id: str) -> dict[str, Any]:
    """Appended to `dividas`; a bad field is a 422 naming it."""
    divida = parse(Divida, await json_body(request))
    document = await service.add_debt(
        customers(request), actor(request, principal), customer_id, divida
    )
    return _shown(str(document.pop("id")), document, False)


@router.delete(
    "/clientes/{customer_id}/dividas/{index}",
    summary="Remove the debt at this position (0-based) of `dividas`; returns the customer.",
    response_model=ClienteOut,
    responses=problems(404),
)
async def remove_debt(
    request: Request, principal: Pii, customer_id: str, index: int
) -> dict[str, Any]:
    """A position past the end is a 404."""
    document = await service.remove_debt(
        customers(request), actor(request, principal), customer_id, index
    )
    return _shown(str(document.pop("id")), document, False)
