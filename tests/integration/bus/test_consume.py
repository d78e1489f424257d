"""Consumer groups on the PostgreSQL bus: delivery, order, retries, dead letters, replay, lag."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg

from caudal.bus.postgres import PostgresBus
from caudal.bus.postgres_consumer import GroupMember
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import Message, Record
from tests.support.bus import Collecting, consuming, make_bus, until


def by_key(records: Sequence[Record]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for r in records:
        seen.setdefault(r.message.key, []).append(int(r.message.payload["n"]))
    return seen


async def test_every_group_receives_every_message_in_order_per_key(bus: PostgresBus) -> None:
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


async def test_a_new_group_starts_from_the_oldest_message(bus: PostgresBus) -> None:
    await bus.publish([Message("t", "k", {"n": i}) for i in range(5)])
    late = Collecting("late")
    async with consuming(bus, late):
        await until(lambda: len(late.records) == 5)
    assert [r.message.payload["n"] for r in late.records] == [0, 1, 2, 3, 4]


async def test_outbox_rows_of_a_rolled_back_transaction_are_never_delivered(
    bus: PostgresBus,
) -> None:
    group = Collecting("g")
    async with consuming(bus, group):
        async with bus.database.connection() as conn:
            await conn.rollback()
            async with conn.transaction(force_rollback=True):
                await bus.publish([Message("t", "k", {"n": 0}, id="rolled-back")], conn=conn)
            async with conn.transaction():
                await bus.publish([Message("t", "k", {"n": 1}, id="committed")], conn=conn)
        await until(lambda: len(group.records) == 1)
        await bus.publish([Message("t", "k", {"n": 2}, id="after")])
        await until(lambda: len(group.records) == 2)
    assert group.ids() == ["committed", "after"]


async def test_a_poison_message_is_dead_lettered_with_its_last_error_and_the_group_moves_on(
    bus: PostgresBus,
) -> None:
    def refuse_poison(records: Sequence[Record]) -> None:
        for r in records:
            if r.message.payload.get("poison"):
                raise ValueError(f"cannot handle {r.message.id}")

    group = Collecting("g", fail=refuse_poison)
    messages = [Message("t", "same-key", {"n": i, "poison": i == 3}) for i in range(8)]
    async with consuming(bus, group):
        await bus.publish(messages)
        await until(lambda: len(group.records) == 7, what="the others")
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
    [status] = await bus.status()
    assert (status.group, status.lag, status.dead_letters, status.retrying) == ("g", 0, 1, 0)


async def test_a_transient_failure_is_retried_with_backoff_and_not_dead_lettered(
    bus: PostgresBus,
) -> None:
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
    bus: PostgresBus,
) -> None:
    broken = {"yes": True}

    def maybe_fail(records: Sequence[Record]) -> None:
        if broken["yes"] and any(r.message.payload["n"] == 1 for r in records):
            raise RuntimeError("bug")

    group = Collecting("g", fail=maybe_fail)
    async with consuming(bus, group):
        await bus.publish([Message("t", f"k{i}", {"n": i}) for i in range(3)])
        await until(lambda: len(group.records) == 2)
        letters = await bus.dead_letters("g")
        for _ in range(200):
            if letters:
                break
            await asyncio.sleep(0.05)
            letters = await bus.dead_letters("g")
        assert [d.message.payload["n"] for d in letters] == [1]
        broken["yes"] = False
        assert await bus.redrive("g") == 1
        await until(lambda: len(group.records) == 3, what="the redriven message")
    assert sorted(r.message.payload["n"] for r in group.records) == [0, 1, 2]
    assert await bus.dead_letters("g") == []


async def test_replay_from_an_offset_and_from_a_time(
    bus: PostgresBus, container: Container
) -> None:
    group = Collecting("g")
    async with consuming(bus, group):
        await bus.publish([Message("t", f"k{i % 3}", {"n": i}) for i in range(10)])
        await until(lambda: len(group.records) == 10)
    offsets = sorted(r.offset for r in group.records)
    assert await bus.replay("g", from_offset=offsets[6]) == 4
    group.records.clear()
    async with consuming(bus, group):
        await until(lambda: len(group.records) == 4)
    assert sorted(r.offset for r in group.records) == offsets[6:]

    with psycopg.connect(container.owner_url) as conn:
        conn.execute(
            "UPDATE bus.messages SET published_at = now() - interval '2 hours' WHERE seq < %s",
            (offsets[8],),
        )
    assert await bus.replay("g", since=datetime.now(UTC) - timedelta(hours=1)) == 2
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


async def test_lag_counts_messages_not_yet_handled(bus: PostgresBus) -> None:
    group = Collecting("g")
    async with consuming(bus, group):
        await bus.publish([Message("t", "k", {"n": 0})])
        await until(lambda: len(group.records) == 1)
    await bus.publish([Message("t", f"k{i}", {"n": i}) for i in range(25)])
    [status] = await bus.status()
    assert (status.group, status.lag, status.members, status.owned) == ("g", 25, 0, 0)
    assert status.oldest_pending_at is not None
    assert await bus.group_lag("g") == 25
    async with consuming(bus, group):
        await until(lambda: len(group.records) == 26)
    assert await bus.group_lag("g") == 0


async def test_two_workers_share_the_partitions_without_double_processing(
    big_pool_bus: PostgresBus,
) -> None:
    bus = big_pool_bus
    first, second = Collecting("g"), Collecting("g")
    members = [GroupMember(bus, first), GroupMember(bus, second)]
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


async def test_a_dead_workers_partitions_are_taken_over_after_its_lease(
    container: Container, bus: PostgresBus
) -> None:
    group = Collecting("g")
    dead = GroupMember(bus, group)
    async with bus.database.connection() as conn:
        await conn.execute(
            "INSERT INTO bus.groups (group_name, topics, partitions) VALUES ('g', '{t}', 4)"
        )
        await conn.execute(
            "INSERT INTO bus.offsets (group_name, partition) SELECT 'g', generate_series(0, 3)"
        )
    await dead.rebalance()
    assert dead.owned == {0, 1, 2, 3}  # then it dies without releasing anything
    await bus.publish([Message("t", f"k{i}", {"n": i}) for i in range(20)])
    survivor = Collecting("g")
    async with consuming(bus, survivor):
        await until(lambda: len(survivor.records) == 20, what="takeover after the lease")


async def test_retention_deletes_only_old_consumed_messages(
    container: Container, bus: PostgresBus
) -> None:
    group = Collecting("g")
    async with consuming(bus, group):
        await bus.publish([Message("t", "k", {"n": i}) for i in range(4)])
        await until(lambda: len(group.records) == 4)
    await bus.publish([Message("t", "k", {"n": 4})])  # not consumed yet
    await bus.publish([Message("nobody-reads", "k", {"n": 5})])
    with psycopg.connect(container.owner_url) as conn:
        conn.execute("UPDATE bus.messages SET published_at = now() - interval '8 days'")
        conn.execute(
            "UPDATE bus.messages SET published_at = now() WHERE payload->>'n' = '0'"
        )  # consumed but recent
        for message_id, redriven in (("fixed", "now() - interval '8 days'"), ("pending", "NULL")):
            conn.execute(
                "INSERT INTO bus.dead_letters (group_name, seq, xid, topic, key, partition,"
                " message_id, payload, headers, published_at, attempts, last_error, failed_at,"
                " redriven_at) VALUES ('g', %s, '1', 't', 'k', 0, %s, '{}', '{}',"
                f" now() - interval '9 days', 8, 'boom', now() - interval '9 days', {redriven})",
                (100 + len(message_id), message_id),
            )
    retained = make_bus(container, retention_days=7)
    assert await retained.apply_retention() == 4
    with psycopg.connect(container.owner_url) as conn:
        left = conn.execute("SELECT payload->>'n' FROM bus.messages ORDER BY seq").fetchall()
        letters = conn.execute("SELECT message_id FROM bus.dead_letters").fetchall()
    assert [n for (n,) in left] == ["0", "4"]
    assert letters == [("pending",)]  # a re-driven dead letter is forgotten after the retention


async def test_lag_and_dead_letters_are_in_metrics_and_a_dropped_group_is_forgotten(
    bus: PostgresBus,
) -> None:
    from prometheus_client import generate_latest

    from caudal.bus.lag import LagReporter

    group = Collecting("metered", fail=lambda rs: (_ for _ in ()).throw(ValueError("no")))
    async with consuming(bus, group):
        await bus.publish([Message("t", "k", {"n": 0})])
        for _ in range(200):
            if await bus.dead_letters("metered"):
                break
            await asyncio.sleep(0.05)
    await bus.publish([Message("t", f"k{i}", {"n": i}) for i in range(3)])
    await LagReporter(bus).refresh()
    text = generate_latest().decode()
    assert 'caudal_bus_lag_messages{group="metered"} 3.0' in text
    assert 'caudal_bus_dead_letters{group="metered"} 1.0' in text
    assert await bus.drop_group("metered") is True
    assert await bus.drop_group("metered") is False
    assert [g.group for g in await bus.status()] == []
    assert len(await bus.dead_letters("metered")) == 1


async def test_consumers_survive_their_connections_being_killed(
    container: Container, bus: PostgresBus
) -> None:
    from caudal.platform.db.pool import DatabaseUnavailable

    group = Collecting("g")
    first = [Message("t", f"k{i % 5}", {"n": i}) for i in range(50)]
    second = [Message("t", f"k{i % 5}", {"n": i}) for i in range(50, 100)]
    async with consuming(bus, group):
        await bus.publish(first)
        await until(lambda: len(group.records) >= 50)
        with psycopg.connect(container.owner_url, autocommit=True) as conn:
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert killed is not None and killed[0] >= 2  # the pool's and the LISTEN connection
        for _ in range(20):  # the pool may hand out a connection that was just killed
            try:
                await bus.publish(second)
                break
            except DatabaseUnavailable:
                await asyncio.sleep(0.1)
        await until(lambda: {m.id for m in second} <= set(group.ids()), what="after the kill")
    assert set(group.ids()) == {m.id for m in first + second}
