"""Base B HTTP API (scope `customers:score`): score data and the score."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from caudal.customers.api_models import ScoreDataOut, ScoreOut
from caudal.customers.base_b import service
from caudal.customers.http_support import actor, customers
from caudal.customers.validation import ScoreData, parse
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.http.deps import json_body, require
from caudal.platform.http.openapi import problems, request_body

router = APIRouter(tags=["customers: Base B"])
Score = Annotated[Principal, Depends(require(scopes.CUSTOMERS_SCORE))]


@router.put(
    "/clientes/{customer_id}/score-data",
    summary="Replace the customer's income sources and assets (cpf, birth date and address "
    "come from Base A).",
    response_model=ScoreDataOut,
    responses=problems(404),
    openapi_extra=request_body(ScoreData),
)
async def put_score_data(request: Request, principal: Score, customer_id: str) -> dict[str, Any]:
    """Invalidates the cached score; a bad field is a 422 naming it."""
    data = parse(ScoreData, await json_body(request))
    return await service.put_score_data(
        customers(request), actor(request, principal), customer_id, data
    )


@router.get(
    "/clientes/{customer_id}/score-data",
    summary="Seed 002's score data.",
    response_model=ScoreDataOut,
    responses=problems(404),
)
async def get_score_data(request: Request, principal: Score, customer_id: str) -> dict[str, Any]:
    """Income sources and assets with the customer's cpf, birth date and address."""
    return await service.get_score_data(customers(request), actor(request, principal), customer_id)


@router.get(
    "/clientes/{customer_id}/score",
    summary="Credit score 0-1000 with its band and reason codes (cached).",
    responses={200: {"model": ScoreOut}, **problems(404)},
)
async def get_score(request: Request, principal: Score, customer_id: str) -> JSONResponse:
    """A scorecard over age, income, assets, debts and bureau queries; `X-Cache` says whether
    it came from the cache (invalidated when the customer's data change)."""
    value, hit = await service.score(customers(request), actor(request, principal), customer_id)
    return JSONResponse(value, headers={"X-Cache": "hit" if hit else "miss"})
