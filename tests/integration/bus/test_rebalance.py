"""Consumer-group rebalancing on the PostgreSQL bus with several members in one process: members
join, leave (releasing their leases) and die (leases expire), and every partition ends up held
by a live member with a share that differs from the others' by at most one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from caudal.bus.assignment import target
from caudal.bus.postgres import PostgresBus
from caudal.bus.postgres_consumer import GroupMember
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import Message
from caudal.platform.db.pool import Database
from tests.support.bus import Collecting, make_bus, until

LEASE = 2.0
PARTITIONS = 16


@pytest.fixture
async def group_bus(container: Container) -> AsyncIterator[PostgresBus]:
    database = Database(container.app_url, min_size=2, max_size=16)
    await database.open()
    yield PostgresBus(
        database, make_bus(container, partitions=PARTITIONS, lease_seconds=LEASE).settings
    )
    await database.close()


class Members:
    """Group members running as tasks; each can be stopped (SIGTERM-like) on its own."""

    def __init__(self, bus: PostgresBus) -> None:
        self.bus = bus
        self.running: dict[
            str, tuple[GroupMember, Collecting, asyncio.Event, asyncio.Task[None]]
        ] = {}
        self.consumers: list[Collecting] = []  # those that left too

    def join(self) -> GroupMember:
        consumer = Collecting("g")
        member = GroupMember(self.bus, consumer)
        self.consumers.append(consumer)
        stop = asyncio.Event()
        task = asyncio.create_task(member.run(stop))
        self.running[member.member] = (member, consumer, stop, task)
        return member

    async def leave(self, member: GroupMember) -> None:
        _, _, stop, task = self.running.pop(member.member)
        stop.set()
        await asyncio.wait_for(task, 20)

    def members(self) -> list[GroupMember]:
        return [m for m, _, _, _ in self.running.values()]

    def handled(self) -> list[str]:
        return [i for c in self.consumers for i in c.ids()]

    async def close(self) -> None:
        for member in self.members():
            await self.leave(member)


async def owners(bus: PostgresBus) -> dict[int, str | None]:
    async with bus.database.connection() as conn:
        cur = await conn.execute(
            "SELECT partition, CASE WHEN lease_until >= now() THEN owner END"
            " FROM bus.offsets WHERE group_name = 'g' ORDER BY partition"
        )
        return {int(p): o for p, o in await cur.fetchall()}


async def balanced(bus: PostgresBus, live: list[GroupMember]) -> bool:
    """Every partition held by one of `live`, each with exactly its target share."""
    held = await owners(bus)
    if len(held) != PARTITIONS or any(o not in {m.member for m in live} for o in held.values()):
        return False
    order = live[0].members  # the join order every member agrees on
    if sorted(order) != sorted(m.member for m in live):
        return False
    counts = {m.member: sum(1 for o in held.values() if o == m.member) for m in live}
    return counts == {m: target(order, m, PARTITIONS) for m in order}


async def until_balanced(bus: PostgresBus, live: list[GroupMember], what: str) -> None:
    # Within LEASE + one heartbeat by design; the slack is for a loaded machine.
    for _ in range(int((LEASE * 4) / 0.05)):
        if await balanced(bus, live):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not balanced: {await owners(bus)}")


async def test_members_joining_one_by_one_get_their_share_without_stopping_the_others(
    group_bus: PostgresBus,
) -> None:
    group = Members(group_bus)
    try:
        first = group.join()
        await until_balanced(group_bus, [first], "one member")
        shares: list[int] = []
        sampling = True

        async def sample() -> None:
            while sampling:
                shares.append(len(first.owned))
                await asyncio.sleep(0.01)

        sampler = asyncio.create_task(sample())
        second = group.join()
        await until_balanced(group_bus, [first, second], "two members")
        third = group.join()
        await until_balanced(group_bus, [first, second, third], "three members")
        sampling = False
        await sampler
        # No stop-the-world: the first member kept its partitions while the others joined.
        assert min(shares) == 6 and shares[0] == PARTITIONS
        counts = sorted(len(m.owned) for m in (first, second, third))
        assert counts == [5, 5, 6]
        assert len(first.owned) == 6  # the oldest member takes the remainder
    finally:
        await group.close()


async def test_a_member_that_leaves_hands_its_partitions_over_and_nothing_is_lost(
    group_bus: PostgresBus,
) -> None:
    group = Members(group_bus)
    messages = [Message("t", f"k{i}", {"n": i}) for i in range(400)]
    try:
        a, b, c = group.join(), group.join(), group.join()
        await until_balanced(group_bus, [a, b, c], "three members")
        await group_bus.publish(messages[:200])
        await group.leave(b)  # SIGTERM: releases its leases on the way out
        await group_bus.publish(messages[200:])
        await until_balanced(group_bus, [a, c], "after one left")
        left = {m.member: len(m.owned) for m in (a, c)}
        assert sorted(left.values()) == [8, 8]
        await until(lambda: len(group.handled()) >= len(messages), what="every message")
        await asyncio.sleep(0.3)  # room for a duplicate delivery to show up
        # A clean leave commits before it releases: each message exactly once.
        assert sorted(group.handled()) == sorted(m.id for m in messages)
    finally:
        await group.close()


async def test_a_dead_members_partitions_are_taken_over_within_the_lease(
    group_bus: PostgresBus,
) -> None:
    group = Members(group_bus)
    try:
        alive = group.join()
        await until_balanced(group_bus, [alive], "one member")
        dead = GroupMember(group_bus, Collecting("g"))
        for _ in range(200):  # joins and gets its half, as its heartbeats would do
            await dead.rebalance()
            if len(dead.owned) == PARTITIONS // 2:
                break
            await asyncio.sleep(0.05)
        assert len(dead.owned) == PARTITIONS // 2
        # ... then dies: no more heartbeats, nothing released.
        await until_balanced(group_bus, [alive], "takeover after the lease")
        assert alive.owned == set(range(PARTITIONS))
        messages = [Message("t", f"k{i}", {"n": i}) for i in range(64)]
        await group_bus.publish(messages)
        (consumer,) = [c for _, c, _, _ in group.running.values()]
        await until(lambda: len(consumer.records) >= 64, what="every message after takeover")
        assert sorted(consumer.ids()) == sorted(m.id for m in messages)
    finally:
        await group.close()


async def test_a_newcomer_gets_its_share_when_it_joins_not_a_heartbeat_later(
    container: Container,
) -> None:
    # Heartbeats every 20 s (a third of the lease): the hand-over below cannot come from them.
    database = Database(container.app_url, min_size=2, max_size=16)
    await database.open()
    slow = PostgresBus(
        database, make_bus(container, partitions=PARTITIONS, lease_seconds=60.0).settings
    )
    group = Members(slow)
    try:
        first = group.join()
        await until_balanced(slow, [first], "one member")
        second = group.join()  # short of its share: it asks, the first releases, it claims
        await until_balanced(slow, [first, second], "two members")
        assert sorted(len(m.owned) for m in (first, second)) == [8, 8]
        await group.leave(second)  # its release wakes the first, which takes everything back
        await until_balanced(slow, [first], "after the newcomer left")
    finally:
        await group.close()
        await database.close()
