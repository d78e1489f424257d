"""The router in a process: the sink registry, the routes in force, one consumer per sink.

It routes to the sinks of the capabilities it is given (and its own `webhook`), so it starts
after them; `wiring.py` hands it the list.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from caudal.platform.capability import Capability, CapabilityBase

if TYPE_CHECKING:
    from caudal.events.router.table import Routes
    from caudal.events.sinks.port import Sink
    from caudal.events.sinks.webhook import WebhookSink
    from caudal.platform.bootstrap import Container
    from caudal.platform.bus.port import Consumer

_log = structlog.get_logger("caudal.router")


class SinkRegistryError(ValueError):
    pass


@dataclass
class RouterRuntime:
    routes: Routes
    sinks: dict[str, Sink]
    webhook: WebhookSink


def register(sinks: Iterable[Sink]) -> dict[str, Sink]:
    """The sinks by name; two of one name are refused."""
    by_name: dict[str, Sink] = {}
    for sink in sinks:
        if sink.name in by_name:
            raise SinkRegistryError(f"two sinks are registered as '{sink.name}'")
        by_name[sink.name] = sink
    return by_name


class RouterCapability(CapabilityBase):
    name = "router"

    def __init__(self, sources: Sequence[Capability[Sink]]) -> None:
        self.sources = sources
        self._runtime: RouterRuntime | None = None

    async def start(self, container: Container) -> None:
        """Register the sinks by name and load the routes; raises `RoutesError` (with the line
        at fault) for an invalid routes file or a route naming an unknown sink."""
        from caudal.events.router.rules import RoutesError
        from caudal.events.router.table import Routes
        from caudal.events.sinks.webhook import WebhookSink

        await super().start(container)
        # Its HTTP client opens on use; the database is the erasure barrier's.
        webhook = WebhookSink(container.settings.webhook, database=container.database)
        by_name = register([*(s for c in self.sources for s in c.sinks()), webhook])
        try:
            routes = Routes(container.settings.events.routes, by_name)
        except RoutesError as exc:
            _log.error(
                "routes_refused", error=str(exc), hint="fix the file (CAUDAL_EVENTS__ROUTES)"
            )
            raise
        self._runtime = RouterRuntime(routes, by_name, webhook)

    def _started(self) -> RouterRuntime:
        if self._runtime is None:
            raise RuntimeError("the router is not started")
        return self._runtime

    def sinks(self) -> Sequence[Sink]:
        """The sink this half of the events domain provides: `webhook`."""
        return [self._started().webhook]

    def consumers(self) -> Sequence[Consumer]:
        """One consumer group per registered sink, named after the sink."""
        from caudal.events.router.consumer import SinkConsumer

        runtime = self._started()
        return [SinkConsumer(sink, runtime.routes) for sink in runtime.sinks.values()]

    async def stop(self) -> None:
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            await runtime.webhook.aclose()
