"""The bus as a capability: the lag and dead-letter gauges in /metrics, and `caudal bus ...`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from caudal.platform.bus.port import BusAdmin
from caudal.platform.capability import CapabilityBase

if TYPE_CHECKING:
    import typer

    from caudal.bus.lag import LagReporter
    from caudal.platform.bootstrap import Container


class BusCapability(CapabilityBase):
    name = "bus"
    migrations = "caudal.bus"

    def __init__(self) -> None:
        self._reporter: LagReporter | None = None
        self._bus: object = None

    async def start(self, container: Container) -> None:
        self._bus = container.bus
        if isinstance(container.bus, BusAdmin):  # an adapter that can tell its lag
            from caudal.bus.lag import LagReporter

            self._reporter = LagReporter(container.bus)
            self._reporter.start()

    async def stop(self) -> None:
        reporter, self._reporter = self._reporter, None
        if reporter is not None:
            await reporter.stop()
        close = getattr(self._bus, "close", None)  # a bus with its own connection (NATS)
        if close is not None:
            await close()

    commands = ("bus",)  # what cli() adds to `caudal`

    def cli(self) -> typer.Typer:
        from caudal.bus.cli import app

        return app
