"""The bus contract, the same tests on every adapter (memory, postgres, nats).

Delivery to every group in order per key, deduplication, the outbox, retries with backoff,
poison messages to the dead letters and their re-drive, replay by offset and by time, lag,
partitions shared between members and taken over from a dead one, dropping a group.
Adapter-specific behaviour (the xid8 late-commit proof, retention in SQL, killed connections,
a killed nats-server) has its own test modules.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from caudal.bus.lag import LagReporter
from caudal.platform.bus.model import Message, Record
from tests.support.bus import Collecting, consuming, refuse_poison, until
from tests.support.bus_adapters import Adapter


def by_key(records: Sequence[Record]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for r in records:
        seen.setdefault(r.message.key, []).append(int(r.message.payload["n"]))
    return seen


async def dead_letters_of(adapter: Adapter, group: str, count: int) -> list[object]:
    for _ in range(300):
        letters = await adapter.bus.dead_letters(group)
        if len(letters) >= count:
            return list(letters)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {count} dead letter(s) for {group}")


async def test_every_group_receives_every_message_in_order_per_key(bus_adapter: Adapter) -> None:
    bus = bus_adapter.bus
    messages = [Message("t", f"k{i % 7}", {"n": i}) for i in range(300)]
    other_topic = [Message("u", "k1", {"n": -1})]
    a, b = Collecting("a"), Collecting("b")
    async with consuming(bus, a, b):
        for start in range(0, 300, 50):
            await bus.publish(messages[start : start + 50] + (other_topic if start == 0 else []))
        await until(lambda: len(a.records) == 300 and len(b.records) == 300, what="delivery")
    for consumer in (a, b):
        assert sorted(consumer.ids()) == sorted(m.id for m in messages)
        assert by_key(consumer.records) == {
            f"k{k}": [i for i in range(300) if i % 7 == k] for k in range(7)
        }
        assert all(r.attempt == 1 for r in consumer.records)


async def test_payload_headers_and_a_new_group_from_the_oldest_message(
    bus_adapter: Adapter,
) -> None:
    bus = bus_adapter.bus
    first = Message("t", "k", {"n": 0, "amount": Decimal("10.05")}, headers={"trace_key": "tk"})
    await bus.publish([first, *(Message("t", "k", {"n": i}) for i in range(1, 5))])
    late = Collecting("late")
    async with consuming(bus, late):
        await until(lambda: len(late.records) == 5)
    assert [r.message.payload["n"] for r in late.records] == [0, 1, 2, 3, 4]
    got = late.records[0]
    assert (got.message.id, got.message.topic, got.message.key) == (first.id, "t", "k")
    assert got.message.payload == {"n": 0, "amount": "10.05"}
    assert got.message.headers == {"trace_key": "tk"}
    assert got.published_at.tzinfo is not None
    assert [r.offset for r in late.records] == sorted({r.offset for r in late.records})


async def test_a_retried_publish_is_delivered_once(bus_adapter: Adapter) -> None:
    bus = bus_adapter.bus
    message = Message("t", "k", {"v": 1})
    await bus.publish([message])
    await bus.publish([message, Message("t", "k", {"v": 2}, id="other")])
    group = Collecting("g")
    async with consuming(bus, group):
        await until(lambda: len(group.records) == 2)
        await asyncio.sleep(0.3)  # room for a duplicate to show up
    assert group.ids() == [message.id, "other"]


@pytest.mark.adapters("postgres", "nats")
async def test_outbox_rows_of_a_rolled_back_transaction_are_never_delivered(
    bus_adapter: Adapter,
) -> None:
    bus, database = bus_adapter.bus, bus_adapter.database
    assert database is not None
    group = Collecting("g")
    async with consuming(bus, group):
        async with database.connection() as conn:
            await conn.rollback()
            async with conn.transaction(force_rollback=True):
                await bus.publish([Message("t", "k", {"n": 0}, id="rolled-back")], conn=conn)
            async with conn.transaction():
                await bus.publish([Message("t", "k", {"n": 1}, id="committed")], conn=conn)
        await until(lambda: len(group.records) == 1)
        await bus.publish([Message("t", "k", {"n": 2}, id="after")])
        await until(lambda: len(group.records) == 2)
        await asyncio.sleep(0.3)
    assert group.ids() == ["committed", "after"]


async def test_a_poison_message_is_dead_lettered_with_its_last_error_and_the_group_moves_on(
    bus_adapter: Adapter,
) -> None:
    bus = bus_adapter.bus

    group = Collecting("g", fail=refuse_poison)
    messages = [Message("t", "same-key", {"n": i, "poison": i == 3}) for i in range(8)]
    async with consuming(bus, group):
        await bus.publish(messages)
        await until(lambda: len(group.records) == 7, what="the others")
        letters = await dead_letters_of(bus_adapter, "g", 1)
    # Everything but the poison was handled, in order, after the poison was isolated.
    assert [r.message.payload["n"] for r in group.records] == [0, 1, 2, 4, 5, 6, 7]
    # The first call was the whole batch; then one record at a time until past the failed batch.
    assert len(group.calls[0]) == 8
    poison_attempts = [
        c[0].attempt for c in group.calls if len(c) == 1 and c[0].message.id == messages[3].id
    ]
    assert poison_attempts == [2, 3]
    letters = await bus.dead_letters("g")
    assert [(d.message.id, d.attempts, d.group) for d in letters] == [(messages[3].id, 3, "g")]
    assert letters[0].last_error == f"ValueError: cannot handle {messages[3].id}"
    assert letters[0].message.payload == {"n": 3, "poison": True}
    assert letters[0].redrive_requested is False
    [status] = await bus.status()
    assert (status.group, status.lag, status.dead_letters, status.retrying) == ("g", 0, 1, 0)


async def test_a_transient_failure_is_retried_with_backoff_and_not_dead_lettered(
    bus_adapter: Adapter,
) -> None:
    bus = bus_adapter.bus
    failures = {"left": 2}
    seen_at: list[datetime] = []

    def flaky(records: Sequence[Record]) -> None:
        seen_at.append(datetime.now(UTC))
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("receiver down")

    group = Collecting("g", fail=flaky)
    async with consuming(bus, group):
        await bus.publish([Message("t", "k", {"n": 1})])
        await until(lambda: len(group.records) == 1)
    assert [c[0].attempt for c in group.calls] == [1, 2, 3]
    # Exponential backoff: 0.05 s, then 0.1 s (retry_base_seconds=0.05).
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(seen_at)]
    assert gaps[0] >= 0.045 and gaps[1] >= 0.095
    assert await bus.dead_letters() == []


async def test_redrive_delivers_dead_letters_again_once_the_handler_is_fixed(
    bus_adapter: Adapter,
) -> None:
    bus = bus_adapter.bus
    broken = {"yes": True}

    def maybe_fail(records: Sequence[Record]) -> None:
        if broken["yes"] and any(r.message.payload["n"] == 1 for r in records):
            raise RuntimeError("bug")

    group = Collecting("g", fail=maybe_fail)
    async with consuming(bus, group):
        await bus.publish([Message("t", f"k{i}", {"n": i}) for i in range(3)])
        await until(lambda: len(group.records) == 2)
        letters = await dead_letters_of(bus_adapter, "g", 1)
        assert [d.message.payload["n"] for d in letters] == [1]  # type: ignore[attr-defined]
        broken["yes"] = False
        assert await bus.redrive("g") == 1
        await until(lambda: len(group.records) == 3, what="the redriven message")
        for _ in range(100):
            if not await bus.dead_letters("g"):
                break
            await asyncio.sleep(0.05)
    assert sorted(r.message.payload["n"] for r in group.records) == [0, 1, 2]
    assert await bus.dead_letters("g") == []
    assert await bus.redrive("g") == 0


async def test_replay_from_an_offset_and_from_a_time(bus_adapter: Adapter) -> None:
    bus = bus_adapter.bus
    group = Collecting("g")
    async with consuming(bus, group):
        await bus.publish([Message("t", f"k{i % 3}", {"n": i}) for i in range(8)])
        await until(lambda: len(group.records) == 8)
        await asyncio.sleep(0.05)
        between = datetime.now(UTC)
        await asyncio.sleep(0.05)
        await bus.publish([Message("t", f"k{i % 3}", {"n": i}) for i in range(8, 10)])
        await until(lambda: len(group.records) == 10)
    offsets = sorted(r.offset for r in group.records)
    assert await bus.replay("g", from_offset=offsets[6]) == 4
    group.records.clear()
    async with consuming(bus, group):
        await until(lambda: len(group.records) == 4)
    assert sorted(r.offset for r in group.records) == offsets[6:]

    assert await bus.replay("g", since=between) == 2
    group.records.clear()
    async with consuming(bus, group):
        await until(lambda: len(group.records) == 2)
    assert sorted(r.offset for r in group.records) == offsets[8:]

    # `--since now`: skip everything published so far; what comes next is delivered.
    await bus.replay("g", from_offset=0)
    assert await bus.replay("g", since=datetime.now(UTC)) == 0
    group.records.clear()
    async with consuming(bus, group):
        await bus.publish([Message("t", "k0", {"n": 10})])
        await until(lambda: len(group.records) == 1)
    assert group.records[0].message.payload == {"n": 10}
    with pytest.raises(LookupError):
        await bus.replay("nobody", from_offset=0)


async def test_lag_counts_messages_not_yet_handled(bus_adapter: Adapter) -> None:
    bus = bus_adapter.bus
    group = Collecting("g")
    async with consuming(bus, group):
        await bus.publish([Message("t", "k", {"n": 0})])
        await until(lambda: len(group.records) == 1)
    await bus.publish([Message("t", f"k{i}", {"n": i}) for i in range(25)])
    [status] = await bus.status()
    assert (status.group, status.topics, status.partitions) == ("g", ("t",), 4)
    assert (status.lag, status.members, status.owned) == (25, 0, 0)
    assert status.oldest_pending_at is not None
    async with consuming(bus, group):
        await until(lambda: len(group.records) == 26)
        for _ in range(100):  # the position is committed just after the handler returns
            [status] = await bus.status()
            if status.lag == 0:
                break
            await asyncio.sleep(0.05)
        assert (status.lag, status.members, status.owned) == (0, 1, 4)


async def test_two_members_share_the_partitions_without_double_processing(
    bus_adapter: Adapter,
) -> None:
    bus = bus_adapter.bus
    first, second = Collecting("g"), Collecting("g")
    members = [bus_adapter.member(first), bus_adapter.member(second)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(m.run(stop)) for m in members]
    try:
        await until(lambda: all(len(m.owned) == 2 for m in members), what="a fair share each")
        assert members[0].owned.isdisjoint(members[1].owned)
        messages = [Message("t", f"k{i}", {"n": i}) for i in range(400)]
        for start in range(0, 400, 40):
            await bus.publish(messages[start : start + 40])
        await until(lambda: len(first.records) + len(second.records) >= 400)
        await asyncio.sleep(0.3)  # room for any duplicate delivery to show up
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    handled = first.ids() + second.ids()
    assert sorted(handled) == sorted(m.id for m in messages)  # each exactly once
    assert first.records and second.records


async def test_a_dead_members_partitions_are_taken_over_after_its_lease(
    bus_adapter: Adapter,
) -> None:
    bus = bus_adapter.bus
    assert await bus_adapter.crashed_member(Collecting("g")) == {0, 1, 2, 3}
    await bus.publish([Message("t", f"k{i}", {"n": i}) for i in range(20)])
    survivor = Collecting("g")
    async with consuming(bus, survivor):
        await until(lambda: len(survivor.records) == 20, what="takeover after the lease")
    assert sorted(survivor.ids()) == sorted(set(survivor.ids()))


async def test_lag_and_dead_letters_in_metrics_and_a_dropped_group_is_forgotten(
    bus_adapter: Adapter,
) -> None:
    from prometheus_client import generate_latest

    bus = bus_adapter.bus
    name = f"metered-{bus_adapter.name}"
    group = Collecting(name, fail=lambda rs: (_ for _ in ()).throw(ValueError("no")))
    async with consuming(bus, group):
        await bus.publish([Message("t", "k", {"n": 0})])
        await dead_letters_of(bus_adapter, name, 1)
    await bus.publish([Message("t", f"k{i}", {"n": i}) for i in range(3)])
    await LagReporter(bus).refresh()
    text = generate_latest().decode()
    assert f'caudal_bus_lag_messages{{group="{name}"}} 3.0' in text
    assert f'caudal_bus_dead_letters{{group="{name}"}} 1.0' in text
    assert await bus.drop_group(name) is True
    assert await bus.drop_group(name) is False
    assert [g.group for g in await bus.status()] == []
    assert len(await bus.dead_letters(name)) == 1


@pytest.mark.bus_settings(retry_base_seconds=5.0, retry_max_seconds=5.0)
async def test_a_permanent_error_is_dead_lettered_at_once_and_its_partition_moves_on(
    bus_adapter: Adapter,
) -> None:
    from psycopg.errors import NumericValueOutOfRange

    bus = bus_adapter.bus  # a 5 s backoff: any retry of the poison would hold the partition

    def overflow(records: Sequence[Record]) -> None:
        for r in records:
            if r.message.payload.get("poison"):
                raise NumericValueOutOfRange("numeric field overflow")

    group = Collecting("g", fail=overflow)
    messages = [Message("t", "same-key", {"n": i, "poison": i == 3}) for i in range(8)]
    async with consuming(bus, group):
        await bus.publish(messages)
        await until(lambda: len(group.records) == 7, seconds=4.5, what="no backoff")
        await dead_letters_of(bus_adapter, "g", 1)
    assert [r.message.payload["n"] for r in group.records] == [0, 1, 2, 4, 5, 6, 7]
    poison = [r.attempt for c in group.calls for r in c if r.message.id == messages[3].id]
    assert poison == [1, 2]  # in the batch, then alone: dead-lettered, never retried
    [letter] = await bus.dead_letters("g")
    assert (letter.message.id, letter.attempts) == (messages[3].id, 2)
    assert letter.last_error == "NumericValueOutOfRange: numeric field overflow"


async def test_a_replay_while_the_group_runs_redelivers_from_there(bus_adapter: Adapter) -> None:
    bus = bus_adapter.bus
    group = Collecting("g")
    messages = [Message("t", f"k{i % 3}", {"n": i}) for i in range(12)]
    async with consuming(bus, group):
        await bus.publish(messages)
        await until(lambda: len(group.records) == 12)
        await asyncio.sleep(0.3)  # positions committed
        offsets = sorted(r.offset for r in group.records)
        assert await bus.replay("g", from_offset=offsets[4]) == 8
        await until(lambda: len(group.records) >= 20, what="the replayed messages")
        await bus.publish([Message("t", "k0", {"n": 12})])
        await until(lambda: len(group.records) >= 21, what="a message after the replay")
        await asyncio.sleep(0.3)
    again = group.records[12:]
    assert sorted(r.offset for r in again[:-1]) == offsets[4:]
    assert again[-1].message.payload == {"n": 12}
    assert by_key(again) == {k: sorted(ns) for k, ns in by_key(again).items()}  # in order per key
