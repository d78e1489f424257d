"""A member reads its next batch while the current one is written (postgres_consumer.py,
"Prefetch"): faults injected while that read is in flight. Each test prints its seed
(`CAUDAL_FAULT_SEED=<seed>` runs it again).

The invariant checked on every delivery: with one member, a partition's records are handed over
in log order and each delivery starts right after what that partition last committed: a batch
read early is never delivered after a failed write (the failed records come again first), after
a lost lease, nor past a replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections.abc import Sequence

import psycopg
import pytest

from caudal.bus.codec import partition_of
from caudal.bus.errors import TransientError
from caudal.bus.postgres import PostgresBus
from caudal.bus.postgres_consumer import GroupMember
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import Message, Record
from caudal.platform.db.pool import DatabaseUnavailable
from tests.support.bus import make_bus

PARTITIONS = 4


def fault_seed() -> random.Random:
    seed = int(os.environ.get("CAUDAL_FAULT_SEED", random.randrange(1 << 30)))
    print(f"fault seed: {seed} (CAUDAL_FAULT_SEED={seed} to run it again)")
    return random.Random(seed)


class Faulty:
    """Sleeps a little (the early read goes on meanwhile), then does what `act` says."""

    def __init__(self, rng: random.Random, batch_size: int) -> None:
        self.group = "g"
        self.topics = ("t",)
        self.batch_size = batch_size
        self.rng = rng
        self.calls: list[tuple[list[Record], bool]] = []  # (records, handled)
        self.act = self.fail_some

    async def handle(self, records: Sequence[Record]) -> None:
        await asyncio.sleep(self.rng.choice([0, 0, 0.001, 0.005, 0.02]))
        try:
            await self.act(records)
        except Exception:
            self.calls.append((list(records), False))
            raise
        self.calls.append((list(records), True))

    async def fail_some(self, records: Sequence[Record]) -> None:
        if self.rng.random() < (0.3 if len(records) > 1 else 0.1):
            raise TransientError("injected")


async def counting(member: GroupMember) -> list[int]:
    """[batches taken from an early read, early reads dropped], updated as the member runs."""
    counts = [0, 0]
    take = member._prefetched

    async def prefetched() -> list[object] | None:
        had = member._prefetch is not None
        batches = await take()
        if batches is not None:
            counts[0] += 1
        elif had:
            counts[1] += 1
        return batches  # type: ignore[return-value]

    member._prefetched = prefetched  # type: ignore[method-assign]
    return counts


async def publish(bus: PostgresBus, n: int) -> None:
    await bus.publish([Message("t", f"k{i % 16}", {"n": i}) for i in range(n)])


def log_order(container: Container) -> dict[int, list[int]]:
    with psycopg.connect(container.owner_url) as conn:
        rows = conn.execute("SELECT partition, seq FROM bus.messages ORDER BY xid, seq")
        order: dict[int, list[int]] = {}
        for p, seq in rows:
            order.setdefault(p, []).append(seq)
    return order


def check_contiguous(
    calls: list[tuple[list[Record], bool]],
    order: dict[int, list[int]],
    moved: dict[int, list[tuple[int, int]]] | None = None,
) -> dict[int, int]:
    """Each delivery of a partition starts where its last committed one ended (or where a
    replay put it: `moved[p]` = [(after this many calls, index)]); returns how far each got."""
    at = dict.fromkeys(order, 0)
    for n, (records, handled) in enumerate(calls):
        for p, moves in (moved or {}).items():
            for when, index in moves:
                if when == n:
                    at[p] = index
        by_partition: dict[int, list[int]] = {}
        for r in records:
            by_partition.setdefault(partition_of(r.message.key, PARTITIONS), []).append(r.offset)
        for p, offsets in by_partition.items():
            expected = order[p][at[p] : at[p] + len(offsets)]
            assert offsets == expected, f"call {n}, partition {p}: {offsets} != {expected}"
            if handled:
                at[p] += len(offsets)
    for p, moves in (moved or {}).items():  # a move after the last call (nothing left after it)
        for when, index in moves:
            if when == len(calls):
                at[p] = index
    return at


async def started(bus: PostgresBus, consumer: Faulty) -> GroupMember:
    member = GroupMember(bus, consumer)
    await member._register()
    await member.rebalance()
    assert member.owned == set(range(PARTITIONS))
    return member


@pytest.mark.parametrize("round_", range(3))
async def test_a_failed_write_drops_the_batch_read_meanwhile(
    container: Container, round_: int
) -> None:
    rng = fault_seed()
    bus = make_bus(container, max_attempts=1000, retry_base_seconds=0, retry_max_seconds=0)
    await container.database.open()
    try:
        consumer = Faulty(rng, batch_size=rng.choice([4, 8, 16]))
        member = await started(bus, consumer)
        counts = await counting(member)
        await publish(bus, 300)
        order = log_order(container)
        total = sum(map(len, order.values()))
        for _ in range(5000):
            await member.cycle()
            done = check_contiguous(consumer.calls, order)
            if sum(done.values()) == total:
                break
        assert sum(done.values()) == total
        assert counts[0] > 0 and counts[1] > 0, counts  # read early, used, and dropped
        await member._leave()
    finally:
        await container.database.close()


async def test_a_lease_lost_or_a_replay_while_reading_early(container: Container) -> None:
    """While a batch is written (and the next one read early), one of its partitions' lease goes
    to another member, or the group is replayed there: its commit loses there, the early read is
    dropped and the member reads afresh (from the replayed position; without the lost
    partition)."""
    rng = fault_seed()
    bus = make_bus(container, max_attempts=1000, retry_base_seconds=0, retry_max_seconds=0)
    await container.database.open()
    try:
        consumer = Faulty(rng, batch_size=8)
        member = await started(bus, consumer)
        counts = await counting(member)
        await publish(bus, 400)
        order = log_order(container)
        stolen: set[int] = set()
        moved: dict[int, list[tuple[int, int]]] = {}
        url = container.owner_url

        async def interfere(records: Sequence[Record]) -> None:
            await asyncio.sleep(0.01)  # the early read is done by now, most often
            mine = {partition_of(r.message.key, PARTITIONS) for r in records} - stolen
            roll = rng.random()
            if roll < 0.1 and len(stolen) < 2 and mine:
                p = rng.choice(sorted(mine))  # this batch's commit loses there
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(
                        "UPDATE bus.offsets SET owner = 'elsewhere',"
                        " lease_until = now() + interval '1 hour' WHERE partition = %s",
                        (p,),
                    )
                stolen.add(p)
            elif roll < 0.25 and mine:
                p = rng.choice(sorted(mine))
                first = next(
                    r.offset for r in records if partition_of(r.message.key, PARTITIONS) == p
                )
                stored = order[p].index(first) - 1  # where the batch began (-1: the start)
                # a position elsewhere: moving to the stored one changes nothing
                index = rng.choice([i for i in range(len(order[p])) if i != stored])
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(
                        "UPDATE bus.offsets AS o SET xid = m.xid, seq = m.seq, attempts = 0,"
                        " isolate_xid = NULL, isolate_seq = NULL, next_attempt_at = NULL"
                        " FROM bus.messages AS m WHERE m.seq = %s AND o.partition = %s",
                        (order[p][index], p),
                    )
                # this batch's commit loses there: the next deliveries start after `index`
                moved.setdefault(p, []).append((len(consumer.calls) + 1, index + 1))

        consumer.act = interfere
        stolen_at: dict[int, int] = {}
        for _ in range(5000):
            before = set(stolen)
            await member.cycle()
            for p in stolen - before:
                stolen_at[p] = len(consumer.calls)
            if rng.random() < 0.2:  # lost leases drop out (the member's heartbeats)
                await member.rebalance()
            done = check_contiguous(consumer.calls, order, moved)
            if all(done[p] == len(order[p]) for p in range(PARTITIONS) if p not in stolen):
                break
        assert all(done[p] == len(order[p]) for p in range(PARTITIONS) if p not in stolen)
        for p, n in stolen_at.items():  # nothing of a lost partition is handed over after
            later = [r for rs, _ in consumer.calls[n:] for r in rs]
            assert all(partition_of(r.message.key, PARTITIONS) != p for r in later), p
        assert counts[0] > 0, counts
        await member._leave()
    finally:
        await container.database.close()


async def test_groups_side_by_side_share_payload_reads_that_fail_or_are_cancelled(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two groups of one process read the same messages at the same time: one waits for the
    other's payload read (bus/message_cache.py, `claim`). When that read fails or is cancelled
    (an early read cancelled), the waiter reads the payloads itself: each group still gets every
    message, in log order per partition, and nobody waits forever."""
    rng = fault_seed()
    bus = make_bus(container, max_attempts=1000, retry_base_seconds=0, retry_max_seconds=0)
    await container.database.open()
    try:
        consumers = [Faulty(rng, batch_size=16), Faulty(rng, batch_size=8)]
        for consumer, group in zip(consumers, ("a", "b"), strict=True):
            consumer.group = group

            async def ok(records: Sequence[Record]) -> None:
                return None

            consumer.act = ok
        members = [await started(bus, c) for c in consumers]
        read_messages = GroupMember._read_messages
        failures = 0

        async def flaky(
            self: GroupMember, cur: object, seqs: list[int], known: dict[int, object]
        ) -> None:
            nonlocal failures
            await asyncio.sleep(rng.choice([0, 0.001, 0.01]))  # the other group comes to wait
            roll = rng.random()
            if seqs and roll < 0.15:
                failures += 1
                raise psycopg.OperationalError("injected: the connection went away")
            task = asyncio.current_task()
            early = task is not None and task.get_name().startswith("bus-prefetch")
            if seqs and roll < 0.3 and early:
                failures += 1
                raise asyncio.CancelledError  # an early read ends cancelled: not the cycle
            await read_messages(self, cur, seqs, known)  # type: ignore[arg-type]

        monkeypatch.setattr(GroupMember, "_read_messages", flaky)
        await publish(bus, 300)
        order = log_order(container)
        total = sum(map(len, order.values()))

        async def drain(member: GroupMember, consumer: Faulty) -> None:
            for _ in range(2000):
                # the worker's loop reads again after such an error
                with contextlib.suppress(DatabaseUnavailable):
                    await asyncio.wait_for(asyncio.shield(member.cycle()), 30)
                done = check_contiguous(consumer.calls, order)
                if sum(done.values()) == total:
                    return
            raise AssertionError(f"group {consumer.group} did not finish")

        await asyncio.gather(*(drain(m, c) for m, c in zip(members, consumers, strict=True)))
        assert failures > 0
        assert not bus.messages._reading  # every claim released
        for member in members:
            await member._leave()
    finally:
        await container.database.close()
