"""PostgreSQL-only behaviour of consumer groups (the contract itself: test_conformance.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from caudal.bus.postgres import PostgresBus
from caudal.bus.postgres_consumer import GroupMember
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import Message
from tests.support.bus import Collecting, consuming, make_bus, until


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


async def test_groups_of_one_process_share_each_message_and_read_its_payload_once(
    bus: PostgresBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = bus.messages
    decode = cache.message
    read: list[int] = []  # seqs whose payload was read and decoded

    def reading(seq: int, *args: Any) -> Any:
        read.append(seq)
        return decode(seq, *args)

    monkeypatch.setattr(cache, "message", reading)
    one, two = Collecting("one"), Collecting("two")
    await bus.publish([Message("t", f"k{i % 3}", {"n": i}) for i in range(30)])
    async with consuming(bus, one):
        await until(lambda: len(one.records) == 30)
    async with consuming(bus, two):
        await until(lambda: len(two.records) == 30)
    assert sorted(read) == sorted(r.offset for r in one.records)  # once each, by the first
    by_offset = {r.offset: r.message for r in one.records}
    assert all(by_offset[r.offset] is r.message for r in two.records)
    assert [r.message.payload for r in two.records] == [r.message.payload for r in one.records]


async def test_a_message_erased_between_its_position_and_its_payload_is_not_delivered(
    container: Container, bus: PostgresBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = Collecting("g")
    await bus.publish([Message("t", "k", {"n": i}, id=f"m{i}") for i in range(5)])
    cache = bus.messages
    looked_up = cache.get

    def erase_m2_once(seq: int, message_id: str) -> Any:
        if message_id == "m2":  # the positions are read: erase it before the payloads are
            monkeypatch.setattr(cache, "get", looked_up)
            with psycopg.connect(container.owner_url, autocommit=True) as conn:
                conn.execute("DELETE FROM bus.messages WHERE message_id = 'm2'")
        return looked_up(seq, message_id)

    monkeypatch.setattr(cache, "get", erase_m2_once)
    async with consuming(bus, group):
        await until(lambda: len(group.records) == 4)
        await bus.publish([Message("t", "k", {"n": 5}, id="m5")])
        await until(lambda: len(group.records) == 5, what="the group to move past the gap")
    assert group.ids() == ["m0", "m1", "m3", "m4", "m5"]


async def test_a_group_takes_the_positions_another_group_of_the_process_read_unless_moved(
    bus: PostgresBus,
) -> None:
    """A group does not scan `bus.messages` again for positions another group of the process
    read lately (bus/fetched_runs.py): it takes them and reads only what follows, and gets every
    message once, in key order; a group whose stored position moved meanwhile (a replay) reads
    from where it now is."""

    def in_key_order(group: Collecting) -> dict[str, list[int]]:
        seen: dict[str, list[int]] = {}
        for r in group.records:
            seen.setdefault(r.message.key, []).append(int(r.message.payload["n"]))
        return seen

    sent: list[Message] = []

    async def publish() -> None:
        batch = [Message("t", f"k{i % 4}", {"n": i}) for i in range(len(sent), len(sent) + 40)]
        await bus.publish(batch)
        sent.extend(batch)

    def complete(group: Collecting) -> None:
        assert sorted(group.ids()) == sorted(m.id for m in sent)
        assert in_key_order(group) == {f"k{k}": list(range(k, len(sent), 4)) for k in range(4)}

    async def drain(member: GroupMember) -> None:
        assert await member.cycle()
        while await member.cycle():  # a cycle takes a batch's worth per partition
            pass

    one, two = Collecting("one"), Collecting("two")
    members = [GroupMember(bus, one), GroupMember(bus, two)]
    for member in members:
        await member._register()
        await member.rebalance()
    await publish()
    for member in members:  # both read PostgreSQL: neither knew its position before
        await drain(member)
    offered = bus.runs.offered
    await publish()
    await drain(members[0])
    await publish()  # published after the first group's read: only the second reads these
    await drain(members[1])
    assert bus.runs.offered - offered == 40  # the first group's 40, not scanned again
    complete(two)
    await drain(members[0])
    assert bus.runs.offered - offered == 80  # and the second's 40 for the first
    complete(one)

    await bus.replay("two", from_offset=0)
    await publish()
    await drain(members[0])
    two.records.clear()
    await drain(members[1])  # from the start again
    complete(two)
    for member in members:
        await member._leave()
