"""Two groups of one process reading one topic in a backlog (`bus/pacing.py`), on the real
PostgreSQL bus: the faster keeps within reach of the slower, and a stalled one holds nobody."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from caudal.bus.codec import partition_of
from caudal.bus.pacing import Pacing
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import Message, Record
from tests.support.bus import Collecting, consuming, make_bus, until

PARTITIONS = 4
BATCH = 100  # 25 records per partition and delivery
REACH = 200
MESSAGES = 2_000


def keys() -> list[str]:
    """Four keys per partition, taken in turn: a delivery's 25 records of a partition span ~100
    sequence numbers (the bound below), whichever partition."""
    by: dict[int, list[str]] = {}
    for key in (f"k{i}" for i in range(400)):
        by.setdefault(partition_of(key, PARTITIONS), []).append(key)
    return [by[p][i] for i in range(4) for p in range(PARTITIONS)]


class Tracked(Collecting):
    """Keeps, per partition, the last sequence number it was handed; `pause` per delivery."""

    def __init__(
        self, group: str, pause: float, positions: dict[str, dict[int, int]], topic: str = "t"
    ) -> None:
        super().__init__(group, (topic,))
        self.batch_size = BATCH
        self.pause = pause
        self.positions = positions.setdefault(group, {})
        self.gate: asyncio.Event | None = None  # when set up: the deliveries wait for it

    async def handle(self, records: Sequence[Record]) -> None:
        if self.gate is not None and len(self.calls) >= 3:
            await self.gate.wait()
        await asyncio.sleep(self.pause)
        for r in records:
            self.positions[partition_of(r.message.key, PARTITIONS)] = r.offset
        await super().handle(records)


async def widest_gap(container: Container, reach: int, run: str) -> int:
    """Drain a backlog with a slow and a fast group: how far (in sequence numbers) the fast one
    was ever ahead of the slow one on a partition both had been handed, as each of its
    deliveries ends."""
    bus = make_bus(container, partitions=PARTITIONS, batch_size=BATCH)
    # The reach alone decides here (the bounds on a pause are the other test's): a loaded
    # machine's slow delivery must not end a pause.
    bus.pacing = Pacing(reach=reach, fresh=60, max_wait=3600)
    positions: dict[str, dict[int, int]] = {}
    slow = Tracked(f"slow-{run}", 0.05, positions, topic=run)  # a topic of its own per run
    fast = Tracked(f"fast-{run}", 0.0, positions, topic=run)
    widest = 0
    handle = fast.handle

    async def measured(records: Sequence[Record]) -> None:
        nonlocal widest
        await handle(records)
        behind = positions.get(slow.group, {})
        for partition, seq in positions[fast.group].items():
            if partition in behind:
                widest = max(widest, seq - behind[partition])

    fast.handle = measured  # type: ignore[method-assign]
    spread = keys()
    messages = [Message(run, spread[i % 16], {"n": i}) for i in range(MESSAGES)]
    async with consuming(bus, slow, fast):
        # Both groups deliver once first (pacing knows a member by its deliveries), then the
        # backlog arrives.
        await bus.publish(messages[:16])
        await until(lambda: len(slow.records) == len(fast.records) == 16, what="started")
        await bus.publish(messages[16:])
        await until(lambda: len(slow.records) == len(fast.records) == MESSAGES, what="drained")
    return widest


async def test_the_faster_group_keeps_within_reach_of_the_slower(container: Container) -> None:
    await container.database.open()
    try:
        unpaced = await widest_gap(container, reach=10**9, run="unpaced")
        paced = await widest_gap(container, reach=REACH, run="paced")
    finally:
        await container.database.close()
    # A member looks before each read, so it may pass the reach by the delivery it reads then.
    assert paced <= REACH + BATCH, (paced, unpaced)
    assert unpaced > 4 * (REACH + BATCH), (paced, unpaced)  # the drift pacing prevents


async def test_a_stalled_group_holds_no_other_back(container: Container) -> None:
    await container.database.open()
    try:
        bus = make_bus(container, partitions=PARTITIONS, batch_size=BATCH)
        # No bound on a pause: only the stalled member's silence releases the other.
        bus.pacing = Pacing(reach=REACH, fresh=0.5, max_wait=3600)
        positions: dict[str, dict[int, int]] = {}
        stalled = Tracked("stalled", 0.0, positions)
        stalled.gate = asyncio.Event()  # three deliveries, then it waits until the end
        fast = Tracked("fast", 0.0, positions)
        await bus.publish([Message("t", f"k{i % 16}", {"n": i}) for i in range(MESSAGES)])
        async with consuming(bus, stalled, fast):
            await until(lambda: len(fast.records) == MESSAGES, seconds=20, what="the fast group")
            assert len(stalled.records) < MESSAGES
            stalled.gate.set()
            await until(lambda: len(stalled.records) == MESSAGES, what="the stalled group")
    finally:
        await container.database.close()
