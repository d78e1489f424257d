"""Turns a bus `Consumer` into a `platform.runtime.Service` (role "worker")."""

from __future__ import annotations

import asyncio

from caudal.platform.bus.port import Bus, Consumer, Lingering


class ConsumerService:
    """Runs one consumer group member until stopped; `caudal worker --group NAME` picks by group."""

    role = "worker"

    def __init__(self, bus: Bus, consumer: Consumer) -> None:
        self.bus = bus
        self.consumer = consumer
        self.group = consumer.group
        self.name = f"bus:{consumer.group}"

    async def run(self, stop: asyncio.Event) -> None:
        consumer = self.consumer
        if not isinstance(consumer, Lingering):
            await self.bus.consume(consumer, stop)
            return
        hurrying = asyncio.create_task(_hurry_on(stop, consumer))
        try:
            await self.bus.consume(consumer, stop)
        finally:
            hurrying.cancel()


async def _hurry_on(stop: asyncio.Event, consumer: Lingering) -> None:
    await stop.wait()
    consumer.hurry()
