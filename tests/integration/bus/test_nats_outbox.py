"""The transactional outbox of the NATS bus: its backlog in /metrics (committed messages the relay
has not forwarded yet, none runs here until a group starts, and the age of the oldest), and a
relay that dies between JetStream's acknowledgement and its DELETE (the batch is sent again,
JetStream drops the repeated ids: each message is delivered once)."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from caudal.bus.lag import LagReporter
from caudal.bus.nats_relay import OutboxRelay
from caudal.platform.bus.model import Message
from caudal.platform.db.pool import DatabaseUnavailable
from tests.support.bus import Collecting, consuming, until
from tests.support.bus_adapters import Adapter


def gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


async def commit(adapter: Adapter, messages: list[Message]) -> None:
    """Publish through the outbox in a committed transaction (no relay runs yet)."""
    assert adapter.database is not None
    async with adapter.database.connection() as conn, conn.transaction():
        await adapter.bus.publish(messages, conn=conn)


@pytest.mark.adapters("nats")
async def test_the_outbox_backlog_and_its_oldest_age_until_the_relay_forwards_it(
    bus_adapter: Adapter,
) -> None:
    bus = bus_adapter.bus
    reporter = LagReporter(bus)
    await commit(bus_adapter, [Message("t", f"k{n}", {"n": n}) for n in range(3)])
    await asyncio.sleep(0.3)  # an age to see

    await reporter.refresh()
    assert gauge("caudal_bus_outbox_messages") == 3
    age = gauge("caudal_bus_outbox_oldest_age_seconds")
    assert age is not None and 0.3 <= age < 30

    group = Collecting("g")
    async with consuming(bus, group):  # the first consumer of the process runs the relay
        await until(lambda: len(group.records) == 3, what="the relay forwards the outbox")
    await reporter.refresh()
    assert (gauge("caudal_bus_outbox_messages"), gauge("caudal_bus_outbox_oldest_age_seconds")) == (
        0,
        0,
    )


async def stored(adapter: Adapter) -> int:
    js = await adapter.bus.js()
    info = await js.stream_info(adapter.bus.names.stream)
    return int(info.state.messages)


@pytest.mark.adapters("nats")
async def test_a_relay_that_dies_after_jetstream_stored_its_batch_causes_no_duplicate(
    bus_adapter: Adapter,
) -> None:
    bus, database = bus_adapter.bus, bus_adapter.database
    assert database is not None
    messages = [Message("t", f"k{n % 2}", {"n": n}) for n in range(5)]
    await commit(bus_adapter, messages)
    relay = OutboxRelay(bus.connection, database, bus.outbox_notifier)
    async with database.connection() as blocker:
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE bus.outbox IN SHARE MODE")  # holds back its DELETE
            forwarding = asyncio.create_task(relay.forward())
            for _ in range(200):
                if await stored(bus_adapter) == 5:
                    break
                await asyncio.sleep(0.05)
            assert await stored(bus_adapter) == 5  # JetStream acknowledged the batch
            cur = await blocker.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query LIKE 'DELETE FROM bus.outbox%%' AND wait_event_type = 'Lock'"
            )
            assert [r[0] for r in await cur.fetchall()] == [True]  # the relay's connection dies
        with pytest.raises(DatabaseUnavailable):
            await forwarding
        cur = await blocker.execute("SELECT count(*) FROM bus.outbox")
        assert (await cur.fetchone()) == (5,)  # not deleted: the batch will be sent again

    group = Collecting("g")
    async with consuming(bus, group):  # its relay sends the 5 rows again
        await until(lambda: len(group.records) == 5)
        for _ in range(100):
            if (await bus.outbox_backlog()).messages == 0:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # room for a duplicate to show up
    assert sorted(group.ids()) == sorted(m.id for m in messages)
    assert await stored(bus_adapter) == 5
    assert (await bus.outbox_backlog()).messages == 0
