"""Base C HTTP API (scope `customers:activity`): `/clientes/{cpf}/consultar` and the timeline."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from caudal.customers import cpf as cpf_rules
from caudal.customers.api_models import Consulta, EventoPage
from caudal.customers.base_c import store
from caudal.customers.base_c.projection import KINDS, present_block
from caudal.customers.http_support import customers
from caudal.customers.pagination import envelope
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.errors import not_found, validation_error
from caudal.platform.http.deps import require
from caudal.platform.http.direct import direct
from caudal.platform.http.openapi import problems

router = APIRouter(tags=["customers: Base C"])
Activity = Annotated[Principal, Depends(require(scopes.CUSTOMERS_ACTIVITY))]


def _digits(cpf: str) -> str:
    try:
        return cpf_rules.normalize(cpf)
    except cpf_rules.InvalidCpf as exc:
        raise validation_error("cpf", "CAU-CUSTOMERS-INVALID-CPF", str(exc)) from None


@router.get(
    "/clientes/{cpf}/consultar",
    summary="Latest bureau query, financial movement and card purchase of a CPF (seed 002).",
    response_class=Response,
    responses={200: {"model": Consulta}, **problems(404)},
)
@direct  # served from the app's entry: the lookup path of Base C (platform/http/direct.py)
async def consultar(request: Request, principal: Activity, cpf: str) -> Response:
    """Projected from the activity events of the CPF (Base C); a CPF without activity is a
    404."""
    ctx = customers(request)
    index = ctx.vault.cpf_index(_digits(cpf))
    # Read with the concurrent requests' CPFs in one statement sent after this request arrived
    # (group reads: base_c.store.consulta_reads).
    body = await ctx.consultas.load(index)
    if body is None:
        raise not_found("activity for this CPF", "CAU-CUSTOMERS-NO-ACTIVITY")
    # Hot path: PostgreSQL built the body; it goes out as is (no FastAPI response encoding).
    return Response(body, media_type="application/json")


@router.get(
    "/clientes/{cpf}/eventos",
    summary="The CPF's activity timeline, newest first.",
    response_model=EventoPage,
    responses=problems(404),
)
async def eventos(
    request: Request,
    principal: Activity,
    cpf: str,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Every bureau query, financial movement and card purchase, paginated as `/clientes`; a
    page past the last is a 404."""
    ctx = customers(request)
    index = ctx.vault.cpf_index(_digits(cpf))
    async with ctx.database.connection(autocommit=True) as conn:  # two lone SELECTs
        count, rows = await store.timeline(conn, index, page_size, (page - 1) * page_size)
    results = []
    for event_id, event_type, occurred_at, data in rows:
        kind = KINDS[event_type]
        results.append(
            {
                "id": event_id,
                "tipo": event_type,
                "ocorrido_em": occurred_at.isoformat(),
                "dados": present_block(kind, data),
            }
        )
    params = {"page_size": page_size if page_size != 20 else None}
    return envelope(f"/clientes/{cpf}/eventos", params, page, page_size, count, results)
