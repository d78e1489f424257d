"""Base B HTTP API (scope `customers:score`): score data and the score."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from caudal.customers.base_b import service
from caudal.customers.http_support import actor, customers
from caudal.customers.validation import ScoreData, parse
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.http.deps import require

router = APIRouter(tags=["customers: Base B"])
Score = Annotated[Principal, Depends(require(scopes.CUSTOMERS_SCORE))]


@router.put(
    "/clientes/{customer_id}/score-data",
    summary="Replace the customer's income sources and assets (cpf, birth date and address "
    "come from Base A).",
)
async def put_score_data(
    request: Request, principal: Score, customer_id: str, body: Annotated[Any, Body()]
) -> dict[str, Any]:
    data = parse(ScoreData, body)
    return await service.put_score_data(
        customers(request), actor(request, principal), customer_id, data
    )


@router.get("/clientes/{customer_id}/score-data", summary="Seed 002's score data.")
async def get_score_data(request: Request, principal: Score, customer_id: str) -> dict[str, Any]:
    return await service.get_score_data(customers(request), actor(request, principal), customer_id)


@router.get(
    "/clientes/{customer_id}/score",
    summary="Credit score 0-1000 with its band and reason codes (cached).",
)
async def get_score(request: Request, principal: Score, customer_id: str) -> JSONResponse:
    value, hit = await service.score(customers(request), actor(request, principal), customer_id)
    return JSONResponse(value, headers={"X-Cache": "hit" if hit else "miss"})
