"""The documented move from the PostgreSQL bus to NATS (docs/operations.md): stop the producers,
let the groups drain to lag 0, switch the backend, start again. Every message is handled once."""

from __future__ import annotations

import asyncio

from caudal.bus.nats import NatsBus
from caudal.bus.postgres import PostgresBus
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import Message
from caudal.platform.db.pool import Database
from tests.support.bus import Collecting, consuming, fast_bus_settings, until
from tests.support.nats import NatsServer


async def test_drain_then_switch_loses_and_repeats_nothing(
    container: Container, nats_server: NatsServer
) -> None:
    database = Database(container.app_url, min_size=2, max_size=8)
    await database.open()
    lake, ledger = Collecting("lake"), Collecting("ledger", topics=("impacts",))
    sent: list[Message] = []

    async def produce(bus: PostgresBus | NatsBus, start: int, count: int) -> None:
        for i in range(start, start + count, 10):
            events = [Message("t", f"k{n % 7}", {"n": n}) for n in range(i, i + 10)]
            impacts = [Message("impacts", f"acct{n % 3}", {"n": n}) for n in range(i, i + 10)]
            async with database.connection() as conn, conn.transaction():
                await bus.publish(events + impacts, conn=conn)  # the outbox, as the API does
            sent.extend(events + impacts)

    try:
        old = PostgresBus(database, fast_bus_settings())
        async with consuming(old, lake, ledger):
            await produce(old, 0, 200)  # 1. the system runs on PostgreSQL
            # 2. producers stopped; 3. the workers drain until every group's lag is 0
            for _ in range(300):
                status = await old.status()
                if status and all(g.lag == 0 and g.retrying == 0 for g in status):
                    break
                await asyncio.sleep(0.05)
            assert {g.group: g.lag for g in await old.status()} == {"lake": 0, "ledger": 0}
        # 4. workers stopped; 5. the backend switched, workers first, then the producers
        new = NatsBus(
            database,
            fast_bus_settings(backend="nats", nats_url=nats_server.url, nats_namespace="moved"),
        )
        try:
            async with consuming(new, lake, ledger):
                await produce(new, 200, 200)
                await until(lambda: len(lake.records) + len(ledger.records) >= len(sent))
                await asyncio.sleep(0.5)  # room for a duplicate to show up
        finally:
            await new.destroy()
            await new.close()
    finally:
        await database.close()
    handled = lake.ids() + ledger.ids()
    assert len(handled) == len(set(handled)) == 800  # nothing twice
    assert set(handled) == {m.id for m in sent}  # nothing lost
    ns = [int(r.message.payload["n"]) for r in ledger.records if r.message.key == "acct0"]
    assert ns == sorted(ns)  # order per key across the switch
