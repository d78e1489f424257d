"""The router in a process: the sink registry, the routes in force, one consumer per sink."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import structlog

from caudal.bus.port import Consumer
from caudal.events.router.consumer import SinkConsumer
from caudal.events.router.rules import RoutesError
from caudal.events.router.table import Routes
from caudal.events.sinks.port import Sink
from caudal.events.sinks.webhook import WebhookSink
from caudal.platform.bootstrap import Container

KEY = "router"

_log = structlog.get_logger("caudal.router")


class SinkRegistryError(ValueError):
    pass


@dataclass
class RouterRuntime:
    routes: Routes
    sinks: dict[str, Sink]


def sinks(container: Container) -> list[Sink]:
    """The sinks this half of the events domain provides: `webhook`."""
    return [WebhookSink(container.settings.webhook)]


def start(container: Container, registered: Iterable[Sink]) -> RouterRuntime:
    """Register the sinks by name and load the routes; raises `RoutesError` (with the line at
    fault) for an invalid routes file or a route naming an unknown sink."""
    by_name: dict[str, Sink] = {}
    for sink in registered:
        if sink.name in by_name:
            raise SinkRegistryError(f"two sinks are registered as '{sink.name}'")
        by_name[sink.name] = sink
    try:
        routes = Routes(container.settings.events.routes, by_name)
    except RoutesError as exc:
        _log.error("routes_refused", error=str(exc), hint="fix the file (CAUDAL_EVENTS__ROUTES)")
        raise
    runtime = RouterRuntime(routes, by_name)
    container.extensions[KEY] = runtime
    return runtime


def get(container: Container) -> RouterRuntime:
    runtime = container.extensions.get(KEY)
    if not isinstance(runtime, RouterRuntime):
        raise RuntimeError("the router is not started: wiring.start(container) first")
    return runtime


def consumers(container: Container) -> list[Consumer]:
    """One consumer group per registered sink, named after the sink."""
    runtime = get(container)
    return [SinkConsumer(sink, runtime.routes) for sink in runtime.sinks.values()]


async def stop(container: Container) -> None:
    runtime = container.extensions.pop(KEY, None)
    if isinstance(runtime, RouterRuntime):
        for sink in runtime.sinks.values():
            if isinstance(sink, WebhookSink):
                await sink.aclose()
