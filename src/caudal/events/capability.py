"""The events capability: ingestion, schema registry, quarantine and monitoring APIs; the
`lake` and `realtime` sinks; retention; `caudal quarantine` / `caudal lake`.

Like every `capability.py`, it imports its parts when asked: `caudal --help` reads every
capability's `cli()` and should not load the HTTP and storage layers to do so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from caudal.platform.capability import CapabilityBase

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from caudal.events.sinks.port import Sink
    from caudal.platform.bootstrap import Container
    from caudal.platform.runtime import Service


class EventsCapability(CapabilityBase):
    name = "events"
    migrations = "caudal.events"

    async def start(self, container: Container) -> None:
        """Load the schema files; the hot path's pool opens on the first ingestion."""
        from caudal.events import runtime

        await super().start(container)
        container.states.provide(runtime.build(container))

    async def stop(self) -> None:
        from caudal.events import runtime

        state = self.withdraw(runtime.EventsRuntime)
        if state is not None:
            await runtime.close(state, self.container)

    def sinks(self) -> Sequence[Sink]:
        from caudal.events import runtime
        from caudal.events.sinks.lake import LakeSink
        from caudal.events.sinks.realtime import RealtimeSink

        c = self.container
        lake = LakeSink(
            c.database,
            runtime.lake_files(c),
            c.settings.lake,
            c.settings.bus.partitions,
            getattr(c.bus, "notifier", None),
        )
        return [lake, RealtimeSink(c.database)]

    def services(self) -> Sequence[Service]:
        from caudal.events import runtime
        from caudal.events.retention import EventsRetention

        c = self.container
        return [EventsRetention(c.database, c.settings, runtime.get(c).sealer)]

    def routers(self) -> Sequence[APIRouter]:
        from caudal.events import api, monitor_api, quarantine_api, registry_api

        return [api.router, registry_api.router, quarantine_api.router, monitor_api.router]

    commands = ("quarantine", "lake")  # what cli() adds to `caudal`

    def cli(self) -> typer.Typer:
        from caudal.events.cli import app

        return app
