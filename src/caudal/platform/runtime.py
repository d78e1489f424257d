"""Long-running background services (bus consumers, schedulers) run beside or apart from the API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Protocol

import structlog

_log = structlog.get_logger("caudal.runtime")


class Service(Protocol):
    name: str
    # "worker" services consume the bus; "scheduler" services run timed jobs.
    role: str

    @property
    def group(self) -> str | None:
        """The consumer group this service runs with (`caudal worker --group` starts it with
        that group's workers); None for a service of the whole process."""

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then return after finishing the current unit of work."""


class Companion(Service, Protocol):
    """A service that runs apart (another process) and tells when it is running."""

    async def wait_running(self) -> None:
        """Return once it runs; raise when it does not within its own bound."""


class ServiceGroup:
    """Runs services as tasks; a crashed service is logged and restarted after a pause."""

    def __init__(self, services: Sequence[Service], restart_delay_s: float = 1.0) -> None:
        self.services = list(services)
        self.stop_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._restart_delay_s = restart_delay_s

    async def start(self) -> None:
        for service in self.services:
            self._tasks.append(asyncio.create_task(self._supervise(service), name=service.name))

    async def _supervise(self, service: Service) -> None:
        while not self.stop_event.is_set():
            try:
                await service.run(self.stop_event)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("service_crashed", service=service.name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop_event.wait(), self._restart_delay_s)

    async def stop(self, timeout_s: float = 30.0) -> None:
        self.stop_event.set()
        if not self._tasks:
            return
        _, still = await asyncio.wait(self._tasks, timeout=timeout_s)
        for task in still:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
