"""The NATS bus under faults: nats-server killed with SIGKILL mid-stream and restarted on its
file store, and NATS away while the API ingests."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable

import httpx
import psycopg

from caudal import wiring
from caudal.bus.adapters import build_bus
from caudal.bus.nats import NatsBus
from caudal.platform.bootstrap import Container, bootstrap
from caudal.platform.bus.model import Message
from caudal.platform.bus.port import BusUnavailable
from caudal.platform.db.pool import Database
from caudal.platform.http.app import create_app
from caudal.platform.settings import Settings
from tests.integration.events.conftest import SEED_FRONTEND
from tests.support.bus import Collecting, consuming, fast_bus_settings, until
from tests.support.nats import NatsServer, nats_server_binary, running_nats


async def test_kill_9_of_nats_server_mid_stream_loses_nothing_acknowledged(
    container: Container,
) -> None:
    seed = int(os.environ.get("CAUDAL_FAULT_SEED", random.randrange(1 << 30)))
    print(f"fault seed: {seed} (CAUDAL_FAULT_SEED={seed} to run it again)")
    rng = random.Random(seed)
    database = Database(container.app_url, min_size=2, max_size=8)
    await database.open()
    acknowledged: list[str] = []

    async def produce(bus: NatsBus) -> None:
        """Half the batches through the outbox, half straight to JetStream (their own keys:
        order holds per key and path); a refused batch is sent again later (what an API client
        does after a 503)."""
        for i in range(60):
            path = "outbox" if i % 2 else "direct"
            batch = [Message("t", f"{path}{j % 5}", {"n": i * 10 + j}) for j in range(10)]
            while True:
                try:
                    if i % 2:
                        async with database.connection() as conn, conn.transaction():
                            await bus.publish(batch, conn=conn)
                    else:
                        await bus.publish(batch)
                    break
                except BusUnavailable:
                    await asyncio.sleep(0.1)
            acknowledged.extend(m.id for m in batch)
            await asyncio.sleep(rng.random() * 0.01)

    try:
        with running_nats() as server:
            settings = fast_bus_settings(backend="nats", nats_url=server.url)
            bus = NatsBus(database, settings)
            lake = Collecting("lake")
            try:
                async with consuming(bus, lake):
                    producer = asyncio.create_task(produce(bus))
                    await until(lambda: len(lake.records) >= rng.randrange(50, 250))
                    server.kill()
                    await asyncio.sleep(rng.uniform(0.2, 1.5))
                    server.start()
                    await asyncio.wait_for(producer, 60)
                    await until(
                        lambda: set(acknowledged) <= set(lake.ids()), seconds=60, what="all"
                    )
                js = await bus.js()
                stored = (await js.stream_info(bus.names.stream)).state.messages
            finally:
                await bus.close()
    finally:
        await database.close()
    assert len(acknowledged) == 600
    assert stored == 600, f"seed {seed}: the stream holds {stored} messages, not 600 (once each)"
    assert set(lake.ids()) == set(acknowledged), f"seed {seed}"
    # Per key, first deliveries come in publish order (a redelivery after the crash may repeat
    # a message: the lake's buffer drops it by id).
    first: dict[str, list[int]] = {}
    seen: set[str] = set()
    for r in lake.records:
        if r.message.id not in seen:
            seen.add(r.message.id)
            first.setdefault(r.message.key, []).append(int(r.message.payload["n"]))
    assert all(ns == sorted(ns) for ns in first.values()), f"seed {seed}: order per key broken"


async def test_nats_down_ingestion_answers_503_with_retry_after_and_readyz_reports_it(
    settings: Settings, auth: Callable[..., dict[str, str]]
) -> None:
    server = NatsServer(nats_server_binary())  # not started yet: NATS is down at startup
    try:
        settings.bus = settings.bus.model_copy(update={"backend": "nats", "nats_url": server.url})
        container = bootstrap(settings, bus=build_bus, migrate=False, configure_logging=False)
        app = create_app(container, wiring.capabilities())
        headers = auth("events:write")
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
        ):

            async def post() -> httpx.Response:
                return await http.post("/v1/events/frontend", json=SEED_FRONTEND, headers=headers)

            async def refused() -> None:
                response = await post()
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"] == str(settings.events.retry_after_seconds)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.json()["code"] == "CAU-UNAVAILABLE"
                ready = await http.get("/readyz")
                assert ready.status_code == 503
                assert "NATS" in ready.json()["detail"]

            async def accepted_again() -> None:
                for _ in range(100):
                    response = await post()
                    if response.status_code == 202:
                        break
                    await asyncio.sleep(0.1)
                assert response.status_code == 202, response.text
                assert (await http.get("/readyz")).status_code == 200

            await refused()  # down from the start
            server.start()
            await accepted_again()
            server.kill()  # then lost
            await asyncio.sleep(0.3)  # the client sees its connection drop
            await refused()
            server.start()
            await accepted_again()
    finally:
        server.close()
    with psycopg.connect(container.owner_url) as conn:
        row = conn.execute("SELECT count(*) FROM bus.outbox").fetchone()
    # 2 + 2 events accepted, none of the refused requests (no worker ran the relay here).
    assert row is not None and row[0] == 4
