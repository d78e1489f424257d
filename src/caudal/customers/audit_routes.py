"""`GET /v1/audit` (scope `audit:read`): who accessed which customer, when, with which trace."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from caudal.customers import audit
from caudal.customers.api_models import AuditPage
from caudal.customers.http_support import customers
from caudal.customers.pagination import envelope
from caudal.platform import scopes
from caudal.platform.auth import Principal
from caudal.platform.errors import validation_error
from caudal.platform.http.deps import require
from caudal.platform.http.openapi import problems

router = APIRouter(tags=["audit"])
AuditRead = Annotated[Principal, Depends(require(scopes.AUDIT_READ))]


@router.get(
    "/v1/audit",
    summary="The audit log, newest first.",
    response_model=AuditPage,
    responses=problems(404),
)
async def list_audit(
    request: Request,
    principal: AuditRead,
    customer_id: Annotated[str | None, Query()] = None,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Who read or changed which customer, when, with which trace key; filters combine; a page
    past the last is a 404."""
    if customer_id is not None:
        try:
            customer_id = str(uuid.UUID(customer_id))
        except ValueError:
            raise validation_error(
                "customer_id", "CAU-AUDIT-INVALID-CUSTOMER-ID", "must be a UUID"
            ) from None
    ctx = customers(request)
    async with ctx.database.connection() as conn:
        count, rows = await audit.page(
            conn,
            customer_id=customer_id,
            subject=subject,
            action=action,
            limit=page_size,
            offset=(page - 1) * page_size,
        )
    params = {
        "customer_id": customer_id,
        "subject": subject,
        "action": action,
        "page_size": page_size if page_size != 50 else None,
    }
    return envelope("/v1/audit", params, page, page_size, count, [r.as_json() for r in rows])
