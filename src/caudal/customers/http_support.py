"""Small HTTP helpers shared by the customers routers."""

from __future__ import annotations

from fastapi import Request

from caudal.customers.audit import Actor
from caudal.customers.context import Customers, customers_of
from caudal.platform.auth import Principal
from caudal.platform.http.deps import container


def actor(request: Request, principal: Principal) -> Actor:
    trace = getattr(request.state, "trace_key", None)
    return Actor(subject=principal.subject, trace_key=str(trace) if trace else None)


def customers(request: Request) -> Customers:
    return customers_of(container(request))
