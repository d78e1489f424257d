"""Keeps the bus gauges in /metrics current in every process that serves or consumes."""

from __future__ import annotations

import asyncio
import contextlib

import psycopg
import structlog
from prometheus_client import Gauge

from caudal.bus import metrics, outbox
from caudal.platform.bus.port import BusAdmin
from caudal.platform.db.pool import DatabaseUnavailable

_log = structlog.get_logger("caudal.bus")

DEAD_LETTERS = Gauge(
    "caudal_bus_dead_letters", "Dead letters not yet re-driven, per consumer group.", ["group"]
)


class LagReporter:
    """Every few seconds, reads every group's lag and dead letters into the gauges
    `caudal_bus_lag_messages{group}` and `caudal_bus_dead_letters{group}`, and for a bus with an
    outbox (NATS) its backlog into `caudal_bus_outbox_messages` and `..._oldest_age_seconds`."""

    def __init__(self, admin: BusAdmin, every_s: float = 5.0) -> None:
        self.admin = admin
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="caudal-bus-lag")

    async def stop(self, wait_s: float = 2.0) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()  # a cancellation swallowed by a library call still ends the loop
        task.cancel()
        # Bounded: shutdown never hangs on the gauges.
        done, _ = await asyncio.wait({task}, timeout=wait_s)
        if not done:
            _log.warning("bus_lag_reporter_not_stopped", waited_s=wait_s)
        elif not task.cancelled() and task.exception() is not None:
            _log.warning("bus_lag_reporter_failed", error=type(task.exception()).__name__)

    async def refresh(self) -> None:
        if isinstance(self.admin, outbox.HasOutbox):  # first: it answers even while NATS is away
            outbox.export(await self.admin.outbox_backlog())
        for group in await self.admin.status():
            metrics.LAG.labels(group.group).set(group.lag)
            DEAD_LETTERS.labels(group.group).set(group.dead_letters)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.refresh()
            except (DatabaseUnavailable, psycopg.Error) as exc:
                _log.debug("bus_lag_unavailable", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.every_s)
