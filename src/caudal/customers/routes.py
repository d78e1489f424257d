"""Every customers router, for `wiring.routers()`."""

from __future__ import annotations

from fastapi import APIRouter

from caudal.customers import audit_routes
from caudal.customers.base_a import routes as base_a_routes
from caudal.customers.base_b import routes as base_b_routes
from caudal.customers.base_c import routes as base_c_routes


def routers() -> list[APIRouter]:
    return [
        base_a_routes.router,
        base_b_routes.router,
        base_c_routes.router,
        audit_routes.router,
    ]
