"""One LISTEN connection per process wakes the bus workers whose topics were published to."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import psycopg
import structlog

_log = structlog.get_logger("caudal.bus")


class Notifier:
    """Shares one `LISTEN caudal_bus` connection among every consumer group of the process.

    A lost connection is re-opened; meanwhile every waiter is woken so the workers poll.
    """

    def __init__(self, url: str, channel: str) -> None:
        self._url = url
        self._channel = channel
        self._waiters: dict[asyncio.Event, frozenset[str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def subscribe(self, topics: Iterable[str]) -> asyncio.Event:
        event = asyncio.Event()
        self._waiters[event] = frozenset(topics)
        if self._task is None or self._task.done():
            self._closing = False
            self._task = asyncio.create_task(self._listen(), name="caudal-bus-listen")
        return event

    async def unsubscribe(self, event: asyncio.Event) -> None:
        self._waiters.pop(event, None)
        if not self._waiters and self._task is not None:
            task, self._task = self._task, None
            self._closing = True  # ends the loop even if a library call swallows the cancel
            task.cancel()
            await asyncio.wait({task}, timeout=2.0)

    def wake_local(self, topics: Iterable[str]) -> None:
        """Wake this process's workers of these topics (after a publish committed here)."""
        for topic in topics:
            self._wake(topic)

    def _wake(self, topic: str | None) -> None:
        for event, topics in self._waiters.items():
            if topic is None or topic in topics:
                event.set()

    async def _listen(self) -> None:
        delay = 0.5
        while not self._closing:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, application_name="caudal-bus-listen"
                )
                async with conn:
                    await conn.execute(f"LISTEN {self._channel}")
                    delay = 0.5
                    self._wake(None)  # anything published while we were not listening
                    async for notify in conn.notifies():
                        self._wake(notify.payload)
            except psycopg.Error as exc:
                _log.warning("bus_listen_lost", error=type(exc).__name__, retry_in_s=delay)
                self._wake(None)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
