"""Lag per group in the API's /metrics, whichever process runs the workers."""

from __future__ import annotations

import asyncio

import httpx

from caudal import wiring
from caudal.bus.postgres import PostgresBus
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import Message
from caudal.platform.http.app import create_app
from tests.support.bus import Collecting, consuming, until


async def test_the_api_process_reports_each_groups_lag_in_metrics(
    container: Container, big_pool_bus: PostgresBus
) -> None:
    bus = big_pool_bus  # its own pool: the app opens the container's
    group = Collecting("billing")
    async with consuming(bus, group):
        await bus.publish([Message("t", "k", {"n": 0})])
        await until(lambda: len(group.records) == 1)
    await bus.publish([Message("t", f"k{i}", {"n": i}) for i in range(1, 8)])

    app = create_app(container, wiring.capabilities())  # the API alone: no workers in this process
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        text = ""
        for _ in range(100):
            text = (await http.get("/metrics")).text
            if 'caudal_bus_lag_messages{group="billing"} 7.0' in text:
                break
            await asyncio.sleep(0.05)
    assert 'caudal_bus_lag_messages{group="billing"} 7.0' in text
    assert 'caudal_bus_dead_letters{group="billing"} 0.0' in text
