"""The bus in a process: the lag gauges for /metrics (started by `wiring.start`)."""

from __future__ import annotations

from caudal.bus.lag import LagReporter
from caudal.bus.port import BusAdmin
from caudal.platform.bootstrap import Container

KEY = "bus"


def start(container: Container) -> None:
    bus = container.bus
    if isinstance(bus, BusAdmin):
        reporter = LagReporter(bus)
        reporter.start()
        container.extensions[KEY] = reporter


async def stop(container: Container) -> None:
    reporter = container.extensions.pop(KEY, None)
    if isinstance(reporter, LagReporter):
        await reporter.stop()
    close = getattr(container.bus, "close", None)  # the NATS connection
    if close is not None:
        await close()
