"""The Postgres-log pitfall: sequence values commit out of order. No consumer may ever skip a
row committed late, and every group must see every key's messages in the order published."""

from __future__ import annotations

import asyncio
import itertools
import random

import psycopg
import pytest

from caudal.bus.postgres import PostgresBus
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import KindFilter, Message
from caudal.platform.bus.port import Bus
from tests.support.bus import Choosy, Collecting, consuming, lag_of, until
from tests.support.bus_adapters import Adapter


async def _producer(
    bus: Bus,
    url: str,
    producer: int,
    transactions: int,
    per_transaction: int,
    rng: random.Random,
    rolled_back: list[str],
) -> list[Message]:
    """Publishes in its own transactions, sleeping at random inside them (before and after its
    sequence values are taken), and now and then rolls one back."""
    sent: list[Message] = []
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for t in range(transactions):
            batch = [
                Message(
                    "t",
                    f"p{producer}-k{i % 3}",
                    {
                        "producer": producer,
                        "n": t * per_transaction + i,
                        # a kind: the filtered group below takes one in three
                        "source": "s",
                        "type": "keep" if i % 3 == 0 else "skip",
                        "version": "1",
                    },
                )
                for i in range(per_transaction)
            ]
            rollback = rng.random() < 0.1
            async with conn.transaction(force_rollback=rollback):
                # Take a transaction id first (as a domain write would), then wait: a later
                # transaction may take lower sequence values and commit first.
                await conn.execute("SELECT pg_current_xact_id()")
                await asyncio.sleep(rng.random() * 0.03)
                await bus.publish(batch, conn=conn)
                await asyncio.sleep(rng.random() * 0.03)
            if rollback:
                rolled_back.extend(m.id for m in batch)
            else:
                sent.extend(batch)
    return sent


def _assert_complete_and_ordered(consumer: Collecting, sent: list[Message]) -> None:
    got = consumer.ids()
    assert len(got) == len(set(got)), f"{consumer.group} saw duplicates"
    assert sorted(got) == sorted(m.id for m in sent), f"{consumer.group} missed or invented rows"
    expected: dict[str, list[int]] = {}
    for m in sent:
        expected.setdefault(m.key, []).append(int(m.payload["n"]))
    seen: dict[str, list[int]] = {}
    for r in consumer.records:
        seen.setdefault(r.message.key, []).append(int(r.message.payload["n"]))
    assert seen == {k: sorted(v) for k, v in expected.items()}


@pytest.mark.adapters("postgres", "nats")
async def test_out_of_order_commits_never_skip_a_row(
    container: Container, bus_adapter: Adapter
) -> None:
    """On NATS the producers write the outbox and the relay forwards below the same horizon.
    A group with a kind filter moves its position past what it leaves out (PostgreSQL: to the
    end of each window read): it must not skip a row committed late either."""
    bus = bus_adapter.bus
    rng = random.Random(1234)
    filtered = Choosy("proof-kinds", KindFilter((("s", "keep", "1"),)))
    groups = [Collecting("proof-a"), Collecting("proof-b"), filtered]
    rolled_back: list[str] = []
    async with consuming(bus, *groups):
        results = await asyncio.gather(
            *(
                _producer(bus, container.app_url, p, 8, 4, random.Random(rng.random()), rolled_back)
                for p in range(12)
            )
        )
        sent = [m for batch in results for m in batch]
        kept = [m for m in sent if m.payload["type"] == "keep"]
        await until(lambda: all(len(g.records) >= len(sent) for g in groups[:2]), what="every row")
        await until(lambda: len(filtered.records) >= len(kept), what="every kept row")
        await asyncio.sleep(0.3)  # anything late or duplicated would show up now
    assert rolled_back, "the run must include rolled-back transactions"
    with psycopg.connect(container.owner_url) as conn:
        if bus_adapter.name == "postgres":
            # Sequence values really were committed out of order in this run.
            rows = conn.execute("SELECT seq, xid::text::bigint FROM bus.messages").fetchall()
            by_seq = [xid for _, xid in sorted(rows)]
            assert any(a > b for a, b in itertools.pairwise(by_seq))
        else:  # every committed row was forwarded, and deleted from the outbox
            assert conn.execute("SELECT count(*) FROM bus.outbox").fetchone() == (0,)
    for group in groups[:2]:
        _assert_complete_and_ordered(group, sent)
        assert not set(group.ids()) & set(rolled_back)
    _assert_complete_and_ordered(filtered, kept)
    assert not set(filtered.ids()) & set(rolled_back)
    assert await lag_of(bus, "proof-kinds") == 0


async def test_ten_thousand_messages_from_twenty_producers_reach_every_group_in_key_order(
    container: Container, big_pool_bus: PostgresBus
) -> None:
    bus = big_pool_bus
    groups = [Collecting("ten-k-a"), Collecting("ten-k-b")]

    async def produce(p: int) -> list[Message]:
        sent: list[Message] = []
        for t in range(10):
            batch = [Message("t", f"p{p}-k{i % 5}", {"n": t * 50 + i}) for i in range(50)]
            await bus.publish(batch)
            sent.extend(batch)
        return sent

    async with consuming(bus, *groups):
        results = await asyncio.gather(*(produce(p) for p in range(20)))
        sent = [m for batch in results for m in batch]
        assert len(sent) == 10_000
        await until(lambda: all(len(g.records) >= 10_000 for g in groups), seconds=120)
    for group in groups:
        _assert_complete_and_ordered(group, sent)
