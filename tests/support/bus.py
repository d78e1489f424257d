"""Helpers to run bus consumer groups in a test and wait for what they receive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import pytest

from caudal.bus.postgres import PostgresBus
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import KindFilter, Record
from caudal.platform.bus.port import Bus, BusAdmin, Consumer
from caudal.platform.db.pool import Database
from caudal.platform.settings import BusSettings


class Collecting:
    """A consumer that keeps what it handled; `fail(records)` may raise to refuse a batch."""

    def __init__(
        self,
        group: str,
        topics: tuple[str, ...] = ("t",),
        fail: Callable[[Sequence[Record]], None] | None = None,
    ) -> None:
        self.group = group
        self.topics = topics
        self.fail = fail
        self.records: list[Record] = []
        self.calls: list[list[Record]] = []

    async def handle(self, records: Sequence[Record]) -> None:
        self.calls.append(list(records))
        if self.fail is not None:
            self.fail(records)
        self.records.extend(records)

    def ids(self) -> list[str]:
        return [r.message.id for r in self.records]


class Choosy(Collecting):
    """A Collecting consumer with a kind filter."""

    def __init__(
        self,
        group: str,
        kinds: KindFilter | None,
        fail: Callable[[Sequence[Record]], None] | None = None,
    ) -> None:
        super().__init__(group, fail=fail)
        self.filter = kinds
        self.asked = 0

    def kinds(self) -> KindFilter | None:
        self.asked += 1
        return self.filter


async def lag_of(bus: BusAdmin, group: str) -> int:
    """The group's lag once it reaches 0 (or as it is after ~10 s)."""
    for _ in range(200):  # the position is committed just after the handler returns
        status = {s.group: s for s in await bus.status()}[group]
        if status.lag == 0:
            break
        await asyncio.sleep(0.05)
    return int(status.lag)


def refuse_poison(records: Sequence[Record]) -> None:
    """A `fail` for Collecting: refuse a batch holding a payload marked `poison`."""
    for r in records:
        if r.message.payload.get("poison"):
            raise ValueError(f"cannot handle {r.message.id}")


@asynccontextmanager
async def consuming(bus: Bus, *consumers: Consumer) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(bus.consume(c, stop)) for c in consumers]
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 20)


async def until(condition: Callable[[], bool], seconds: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.02)


def fast_bus_settings(**overrides: object) -> BusSettings:
    """Test-friendly timings: short leases, fast retries, 4 partitions."""
    return BusSettings(
        partitions=4,
        batch_size=100,
        max_attempts=3,
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
        lease_seconds=1.5,
        poll_interval_seconds=0.2,
    ).model_copy(update=overrides)


def make_bus(container: Container, **overrides: object) -> PostgresBus:
    """A PostgreSQL bus with test-friendly timings."""
    return PostgresBus(container.database, fast_bus_settings(**overrides))


@pytest.fixture
async def bus(container: Container) -> AsyncIterator[PostgresBus]:
    await container.database.open()
    yield make_bus(container)
    await container.database.close()


@pytest.fixture
async def big_pool_bus(container: Container) -> AsyncIterator[PostgresBus]:
    database = Database(container.app_url, min_size=2, max_size=12)
    await database.open()
    yield PostgresBus(database, make_bus(container).settings)
    await database.close()
