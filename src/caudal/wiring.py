"""The composition root: which capabilities' routers and background services make up caudal.

A new capability plugs in here and nowhere else in the platform.
"""

from __future__ import annotations

from fastapi import APIRouter

from caudal.bus import setup as bus_setup
from caudal.bus.port import Consumer
from caudal.bus.worker import ConsumerService
from caudal.customers import context as customers_context
from caudal.customers import routes as customers_routes
from caudal.customers.base_c.sink import CustomersActivitySink
from caudal.events import runtime as events_runtime
from caudal.events.router import setup as router_setup
from caudal.events.sinks.port import Sink
from caudal.ledger import setup as ledger_setup
from caudal.pipelines import api as pipelines_api
from caudal.pipelines import setup as pipelines_setup
from caudal.platform.bootstrap import Container
from caudal.platform.runtime import Service
from caudal.web.api import router as web_router


def routers() -> list[APIRouter]:
    return [
        *events_runtime.routers(),
        *customers_routes.routers(),
        *ledger_setup.routers(),
        pipelines_api.router,
        web_router,
    ]


def sinks(container: Container) -> list[Sink]:
    """The sink registry: sinks by the name routes.yaml uses; a domain appends its own. Each
    runs as its own consumer group (named after the sink) on the `events` topic."""
    found: list[Sink] = []
    found += events_runtime.sinks(container)  # lake, realtime
    found.append(CustomersActivitySink(customers_context.customers_of(container)))
    found += router_setup.sinks(container)  # webhook
    return found


def consumers(container: Container) -> list[Consumer]:
    """Bus consumer groups (`bus.port.Consumer`); a domain appends its own here. Each runs as a
    "worker" service; `caudal worker --group NAME` runs only the named groups."""
    found: list[Consumer] = []
    found += router_setup.consumers(container)  # one group per sink, fed by routes.yaml
    found += ledger_setup.consumers(container)  # the posting engine
    return found


def services(
    container: Container,
    roles: frozenset[str] = frozenset({"worker", "scheduler"}),
    groups: frozenset[str] | None = None,
) -> list[Service]:
    """Workers and schedulers run by `caudal up` (and by `caudal worker` / `caudal scheduler`)."""
    found: list[Service] = [
        ConsumerService(container.bus, c)
        for c in consumers(container)
        if groups is None or c.group in groups
    ]
    # The lake flusher runs beside the `lake` group's workers; retention with any full worker.
    found += [
        s
        for s in events_runtime.services(container)
        if groups is None or (s.name == "lake-flusher" and "lake" in groups)
    ]
    if groups is None:  # the daily schedule (role "scheduler")
        found += pipelines_setup.services(container)
        found += ledger_setup.services(container)  # nightly reconciliation (role "scheduler")
    return [s for s in found if s.role in roles]


async def start(container: Container) -> None:
    """Open what the capabilities share for the process lifetime (caches, registries)."""
    await events_runtime.start(container)  # schema registry files, ingestion connections
    customers_context.open_customers(container)  # PII keys (key file on first run), score cache
    await pipelines_setup.start(container)
    router_setup.start(container, sinks(container))  # refuses a bad routes.yaml (file:line)
    bus_setup.start(container)  # lag and dead-letter gauges in /metrics


async def stop(container: Container) -> None:
    """Close what `start` opened."""
    await events_runtime.stop(container)
    await router_setup.stop(container)
    await bus_setup.stop(container)
    await customers_context.close_customers(container)
    await pipelines_setup.stop(container)  # lets HTTP-triggered runs finish
