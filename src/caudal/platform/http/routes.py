"""Platform routes: liveness, readiness, metrics, whoami."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from caudal.platform.auth import Principal
from caudal.platform.errors import unavailable
from caudal.platform.http.deps import authenticated, container
from caudal.platform.http.openapi import problems
from caudal.platform.metrics_merge import PeerMetrics, exposition

router = APIRouter()


class Health(BaseModel):
    status: str


class WhoAmI(BaseModel):
    subject: str
    scopes: list[str]


@router.get("/healthz", tags=["platform"], summary="Liveness: the process answers.")
async def healthz() -> Health:
    """Touches nothing else: for a process supervisor's liveness probe."""
    return Health(status="ok")


@router.get(
    "/readyz",
    tags=["platform"],
    summary="Readiness: the database (and the bus server, if any) answer, every migration is "
    "applied (else 503).",
    responses=problems(unavailable="Not ready; the detail says why."),
)
async def readyz(request: Request) -> Health:
    """For a load balancer's readiness probe: route traffic here only while it answers 200."""
    c = container(request)
    ready, reason = await c.database.readiness()
    bus_readiness = getattr(c.bus, "readiness", None)  # a bus with its own server (NATS)
    if ready and bus_readiness is not None:
        ready, reason = await bus_readiness()
    if not ready:
        raise unavailable(reason)
    return Health(status="ready")


@router.get(
    "/metrics",
    tags=["platform"],
    summary="Prometheus metrics.",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    """This process's counters and histograms in the Prometheus text exposition format, with
    those of the worker processes a `caudal up` runs (`platform.metrics_merge`)."""
    peers = container(request).states.find(PeerMetrics)
    if peers is None:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
    return Response(exposition(await peers.texts()), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/whoami", tags=["platform"], summary="The token's subject and scopes.")
async def whoami(principal: Annotated[Principal, Depends(authenticated)]) -> WhoAmI:
    """To check a token: its subject and the scopes it holds."""
    return WhoAmI(subject=principal.subject, scopes=sorted(principal.scopes))
