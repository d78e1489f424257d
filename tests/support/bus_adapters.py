"""The bus conformance suite's fixture: one `Adapter` per bus backend, same tests for each.

`bus_adapter` is parametrized over memory, postgres and nats by tests/integration/bus/conftest.py;
a test marked `@pytest.mark.adapters("postgres", "nats")` runs on those only (e.g. the outbox,
which needs a database transaction); `@pytest.mark.bus_settings(...)` changes the settings.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from caudal.bus.memory import MemoryBus
from caudal.bus.postgres import PostgresBus
from caudal.bus.postgres_consumer import GroupMember
from caudal.platform.bootstrap import Container
from caudal.platform.bus.port import Consumer
from caudal.platform.db.pool import Database
from tests.support.bus import fast_bus_settings

ADAPTERS = ("memory", "postgres", "nats")


@dataclass
class Adapter:
    name: str
    bus: Any  # bus.port.Bus and bus.port.BusAdmin
    database: Database | None = None  # the outbox's database (postgres, nats)

    def member(self, consumer: Consumer) -> Any:
        """A group member with `owned` (partitions held) and `run(stop)`."""
        if isinstance(self.bus, PostgresBus):
            return GroupMember(self.bus, consumer)
        return self.bus.member(consumer)

    async def crashed_member(self, consumer: Consumer) -> set[int]:
        """A member that takes its share of the partitions and dies without letting go."""
        member = self.member(consumer)
        if isinstance(member, GroupMember):
            await member._register()
        await member.rebalance()
        return set(member.owned)


@pytest.fixture
async def bus_adapter(request: pytest.FixtureRequest) -> AsyncIterator[Adapter]:
    name = request.param
    marker = request.node.get_closest_marker("bus_settings")
    overrides = marker.kwargs if marker else {}
    if name == "memory":
        yield Adapter(name, MemoryBus(fast_bus_settings(**overrides)))
        return
    container: Container = request.getfixturevalue("container")
    database = Database(container.app_url, min_size=2, max_size=12)
    await database.open()
    try:
        if name == "postgres":
            yield Adapter(name, PostgresBus(database, fast_bus_settings(**overrides)), database)
        else:
            from caudal.bus.nats import NatsBus

            server = request.getfixturevalue("nats_server")
            settings = fast_bus_settings(
                backend="nats",
                nats_url=server.url,
                nats_namespace=f"t{uuid.uuid4().hex[:10]}",
                **overrides,
            )
            bus = NatsBus(database, settings)
            try:
                yield Adapter(name, bus, database)
            finally:
                await bus.destroy()  # this test's streams and buckets
                await bus.close()
    finally:
        await database.close()
