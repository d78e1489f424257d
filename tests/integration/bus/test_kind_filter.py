"""A consumer group's kind filter (`bus.port.Filtering`), the same tests on every adapter.

A group that can tell from a message's kind that it will not take it is not handed it; the
group's position still moves past it (lag 0, nothing read again), and delivery keeps its rules
for what it does take: order per key, isolation and dead letters, replay. The PostgreSQL bus
filters in its fetch (windows of positions, `fetch_kinds`); memory and NATS before the handler.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from caudal.platform.bus.model import KindFilter, Message
from tests.support.bus import Choosy, Collecting, consuming, lag_of, refuse_poison, until
from tests.support.bus_adapters import Adapter

TAKEN = KindFilter((("backend", "taken.*", "1"), (None, "also", None)))


def event(n: int, key: str, kind: tuple[Any, ...] | None, **extra: Any) -> Message:
    payload: dict[str, Any] = {"n": n, **extra}
    if kind is not None:
        payload.update(zip(("source", "type", "version"), kind, strict=True))
    return Message("t", key, payload)


KINDS: list[tuple[tuple[Any, ...] | None, bool]] = [  # (kind, taken by TAKEN)
    (("frontend", "click", "1"), False),
    (("backend", "taken.a", "1"), True),
    (("backend", "taken.a", "2"), False),  # another version
    (("backend", "xtaken.a", "1"), False),  # the glob is anchored
    (("frontend", "also", "7"), True),  # the second alternative
    (None, True),  # no kind at all: the handler decides
    (("backend", "taken.b", 1), True),  # a number as version: not a kind, the handler decides
]


@pytest.mark.bus_settings(batch_size=8)  # windows of 2 records (4 partitions): many cycles
async def test_a_filtered_group_gets_only_its_kinds_in_order_and_passes_the_others(
    bus_adapter: Adapter,
) -> None:
    bus = bus_adapter.bus
    messages = [event(i, f"k{i % 5}", *KINDS[(i * 3) % len(KINDS)][:1]) for i in range(400)]
    # A long run the filter leaves out at the end: the group's position must pass it too.
    messages += [event(400 + i, f"k{i % 5}", ("frontend", "click", "1")) for i in range(150)]
    assert all(TAKEN.takes(event(0, "k", kind).payload) == takes for kind, takes in KINDS)
    taken = [m for m in messages if TAKEN.takes(m.payload)]
    assert 0 < len(taken) < 400
    choosy, everything = Choosy("choosy", TAKEN), Collecting("all")
    async with consuming(bus, choosy, everything):
        await bus.publish(messages)
        await until(lambda: len(everything.records) == len(messages), what="the unfiltered group")
        await until(lambda: len(choosy.records) >= len(taken), what="the filtered group")
        assert await lag_of(bus, "choosy") == 0
        assert await lag_of(bus, "all") == 0
    assert choosy.asked > 0
    assert sorted(choosy.ids()) == sorted(m.id for m in taken)
    for key in {m.key for m in messages}:
        got = [r.message.payload["n"] for r in choosy.records if r.message.key == key]
        assert got == [m.payload["n"] for m in taken if m.key == key]
    # Nothing it took was handed over twice, nothing left out was handed over at all.
    assert len(choosy.records) == len(taken)
    assert sorted(everything.ids()) == sorted(m.id for m in messages)


async def test_without_a_filter_or_with_none_every_message_is_delivered(
    bus_adapter: Adapter,
) -> None:
    bus = bus_adapter.bus
    messages = [event(i, "k", KINDS[i % len(KINDS)][0]) for i in range(30)]
    group = Choosy("none", kinds=None)
    async with consuming(bus, group):
        await bus.publish(messages)
        await until(lambda: len(group.records) == 30)
    assert group.ids() == [m.id for m in messages]


async def test_a_poison_message_among_left_out_ones_is_dead_lettered_and_the_group_moves_on(
    bus_adapter: Adapter,
) -> None:
    bus = bus_adapter.bus

    group = Choosy("g", TAKEN, fail=refuse_poison)
    skip, take = ("frontend", "click", "1"), ("backend", "taken.x", "1")
    messages = [
        event(i, "same-key", take if i % 3 == 0 else skip, poison=i == 9) for i in range(24)
    ]
    kept = [m.payload["n"] for m in messages if m.payload["type"] == "taken.x"]
    async with consuming(bus, group):
        await bus.publish(messages)
        await until(lambda: len(group.records) == len(kept) - 1, what="the others")
        for _ in range(300):
            letters = await bus.dead_letters("g")
            if letters:
                break
            await asyncio.sleep(0.05)
        assert await lag_of(bus, "g") == 0
    assert [r.message.payload["n"] for r in group.records] == [n for n in kept if n != 9]
    # Only what the filter takes reached the handler, in the batch and in isolation.
    assert all(r.message.payload["type"] == "taken.x" for c in group.calls for r in c)
    assert [(d.message.id, d.attempts) for d in letters] == [(messages[9].id, 3)]
    [status] = await bus.status()
    assert (status.lag, status.dead_letters, status.retrying) == (0, 1, 0)


async def test_a_replay_redelivers_only_the_filtered_kinds(bus_adapter: Adapter) -> None:
    bus = bus_adapter.bus
    take, skip = ("backend", "taken.r", "1"), ("frontend", "click", "1")
    messages = [event(i, "k", take if i % 4 == 0 else skip) for i in range(40)]
    group = Choosy("r", TAKEN)
    async with consuming(bus, group):
        await bus.publish(messages)
        await until(lambda: len(group.records) == 10)
        assert await lag_of(bus, "r") == 0
    offsets = sorted(r.offset for r in group.records)
    await bus.replay("r", from_offset=offsets[5])
    group.records.clear()
    async with consuming(bus, group):
        await until(lambda: len(group.records) == 5)
        assert await lag_of(bus, "r") == 0
    assert [r.message.payload["n"] for r in group.records] == [20, 24, 28, 32, 36]


@pytest.mark.adapters("postgres")
async def test_a_row_published_before_the_kind_columns_is_taken_and_its_handler_decides(
    bus_adapter: Adapter,
) -> None:
    """Rows written before bus migration 0005 have no kind: every filtered group gets them."""
    bus = bus_adapter.bus
    left_out = event(0, "k", ("frontend", "click", "1"))
    await bus.publish([left_out, event(1, "k", ("frontend", "click", "1"))])
    assert bus_adapter.database is not None
    async with bus_adapter.database.connection() as conn:  # as an older release wrote it
        await conn.execute(
            "UPDATE bus.messages SET kind_source = NULL, kind_type = NULL, kind_version = NULL"
            " WHERE message_id = %s",
            (left_out.id,),
        )
    group = Choosy("old", TAKEN)
    async with consuming(bus, group):
        await until(lambda: len(group.records) == 1)
        assert await lag_of(bus, "old") == 0
    assert group.ids() == [left_out.id]


@pytest.mark.adapters("postgres")
@pytest.mark.bus_settings(batch_size=4, linger_seconds=0.5)  # windows of 8 positions
async def test_a_long_run_of_left_out_kinds_is_passed_window_after_window_without_lingering(
    bus_adapter: Adapter,
) -> None:
    """A group that takes few kinds behind a flood of others on one key: a full window of
    left-out positions is no trickle, so the next window is read at once. Lingering after each
    (the run's 100 windows × 0.5 s) held the one message it takes back by ~50 s."""
    bus = bus_adapter.bus
    flood = [event(i, "busy", ("frontend", "click", "1")) for i in range(800)]
    wanted = event(800, "busy", ("backend", "taken.a", "1"))
    await bus.publish([*flood, wanted])
    group = Choosy("behind", TAKEN)
    async with consuming(bus, group):
        await until(lambda: len(group.records) == 1, seconds=20, what="the message behind them")
        assert await lag_of(bus, "behind") == 0
    assert group.ids() == [wanted.id]


# Filters on types alone (`fetch_kinds` matches them by type: bus/kind_sql.py), each beside one
# that takes the same messages by the general match: a source glob `*` takes any source, and a
# message without a source string is taken by both anyway.
BY_TYPE = [
    (KindFilter(((None, "taken.a", None), (None, "also", None))), "type"),
    (KindFilter(((None, "taken.*", None), (None, "al?o", None))), "type_like"),
    (KindFilter(((None, "x_y%z", None),)), "type"),  # LIKE's specials, literal here
]


@pytest.mark.parametrize(("by_type", "how"), BY_TYPE)
@pytest.mark.bus_settings(batch_size=8)  # small windows: many cycles, ends left out
async def test_a_filter_on_types_alone_takes_the_positions_the_general_match_takes(
    bus_adapter: Adapter, by_type: KindFilter, how: str
) -> None:
    from caudal.bus.kind_sql import matched_by

    general = KindFilter(tuple(("*", t, v) for _, t, v in by_type.alternatives))
    assert (matched_by(by_type), matched_by(general)) == (how, "kind")
    kinds: list[tuple[Any, ...] | None] = [k for k, _ in KINDS]
    kinds += [("backend", "x_y%z", "1"), ("backend", "xay%z", "1"), ("b", "x_y%zz", "1")]
    kinds += [("frontend", "alxo", "1"), ("backend", "taken.", "3"), ("s", None, "1")]
    messages = [event(i, f"k{i % 5}", kinds[(i * 7) % len(kinds)]) for i in range(300)]
    fast, slow = Choosy("by_type", by_type), Choosy("general", general)
    async with consuming(bus_adapter.bus, fast, slow):
        await bus_adapter.bus.publish(messages)
        taken = [m for m in messages if by_type.takes(m.payload)]
        assert 0 < len(taken) < len(messages)
        await until(lambda: len(fast.records) >= len(taken), what="the filter on types")
        await until(lambda: len(slow.records) >= len(taken), what="the general filter")
        assert await lag_of(bus_adapter.bus, "by_type") == 0
        assert await lag_of(bus_adapter.bus, "general") == 0

    def positions(group: Choosy) -> list[tuple[str, int]]:
        return sorted((r.message.id, r.offset) for r in group.records)

    assert positions(fast) == positions(slow)
    assert sorted(fast.ids()) == sorted(m.id for m in taken)
