"""When the ingestion's group commit (`events/group_commit.GroupCommit`) takes a group, with a
fake bus and pool: an idle request is committed after one loop turn; requests queued behind a
commit wait up to `gather_seconds` for more to join; a full group never waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from caudal.events.group_commit import GATHER_SECONDS, GroupCommit
from caudal.platform.bus.model import Message

LONG = 30.0  # a gather no test may wait for


class FakeAdapters:
    def register_dumper(self, cls: type, dumper: type) -> None:
        pass


class FakeConnection:
    adapters = FakeAdapters()


class FakePool:
    """The hot path's pool: `connection()` hands out a fake connection at once."""

    async def open(self) -> None:
        pass

    @asynccontextmanager
    async def connection(self, *, autocommit: bool = False) -> AsyncIterator[FakeConnection]:
        yield FakeConnection()


class FakeBus:
    """Records each commit's keys; a commit waits for `gate` if one is set (in flight)."""

    def __init__(self) -> None:
        self.commits: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()

    async def publish(self, messages: Sequence[Message], conn: Any = None) -> None:
        self.commits.append([m.key for m in messages])
        self.started.set()
        if self.gate is not None:
            gate, self.gate = self.gate, None
            await gate.wait()


def request(key: str, count: int = 1) -> list[Message]:
    return [Message(topic="events", key=key, payload={"n": n}) for n in range(count)]


def group_commit(bus: FakeBus, **options: Any) -> GroupCommit:
    return GroupCommit(FakePool(), bus, max_inflight=1, **options)  # type: ignore[arg-type]


async def commit_started(bus: FakeBus) -> None:
    await asyncio.wait_for(bus.started.wait(), 2)
    bus.started.clear()


async def turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def queue_behind_a_commit(
    bus: FakeBus, group: GroupCommit, *queued: list[Message]
) -> tuple[asyncio.Task[None], list[asyncio.Task[None]]]:
    """Publish request "a", publish `queued` while its commit is in flight, then let it end."""
    gate = bus.gate = asyncio.Event()
    first = asyncio.ensure_future(group.publish(request("a")))
    await commit_started(bus)
    waiting = [asyncio.ensure_future(group.publish(messages)) for messages in queued]
    await turns(2)
    gate.set()
    return first, waiting


def test_the_shipped_gather_is_a_millisecond() -> None:
    assert GroupCommit(FakePool(), FakeBus()).gather_seconds == GATHER_SECONDS == 0.001  # type: ignore[arg-type]


async def test_an_idle_request_is_committed_after_one_loop_turn_without_waiting() -> None:
    bus = FakeBus()
    group = group_commit(bus, gather_seconds=LONG)
    loop = asyncio.get_running_loop()
    for key in ("a", "b"):  # each alone: the first, then one after the process went quiet
        began = loop.time()
        publish = asyncio.ensure_future(group.publish(request(key)))
        await turns(4)  # publish starts the drain; the drain takes it a turn later and writes
        assert publish.done()
        assert loop.time() - began < 1
    assert bus.commits == [["a"], ["b"]]


async def test_requests_that_reach_publish_in_the_same_turn_share_the_idle_commit() -> None:
    bus = FakeBus()
    group = group_commit(bus, gather_seconds=LONG)
    await asyncio.wait_for(asyncio.gather(*(group.publish(request(k)) for k in "abc")), 1)
    assert bus.commits == [["a", "b", "c"]]


@pytest.mark.parametrize("gather", [0.5, 0.0])
async def test_requests_queued_behind_a_commit_share_the_next_one_with_the_gather_window(
    gather: float,
) -> None:
    """B and C arrive while A's commit is in flight; D arrives just after it ended, within the
    gather window: B, C and D are one commit. Without a window (the control) D is a third."""
    bus = FakeBus()
    group = group_commit(bus, gather_seconds=gather)
    a, queued = await queue_behind_a_commit(bus, group, request("b"), request("c"))
    await asyncio.wait_for(a, 1)
    assert all(q.done() for q in queued) == (not gather)  # with a window: gathering
    d = asyncio.ensure_future(group.publish(request("d")))
    await asyncio.wait_for(asyncio.gather(d, *queued), 2)
    expected = [["a"], ["b", "c", "d"]] if gather else [["a"], ["b", "c"], ["d"]]
    assert bus.commits == expected


async def test_a_full_group_queued_behind_a_commit_is_taken_without_waiting() -> None:
    bus = FakeBus()
    group = group_commit(bus, gather_seconds=LONG, max_messages=4)
    a, full = await queue_behind_a_commit(bus, group, request("b", 2), request("c", 2))
    await asyncio.wait_for(asyncio.gather(a, *full), 1)
    assert bus.commits == [["a"], ["b", "b", "c", "c"]]


async def test_a_group_that_fills_during_the_gather_window_is_taken_at_once() -> None:
    bus = FakeBus()
    group = group_commit(bus, gather_seconds=LONG, max_messages=4)
    a, (b,) = await queue_behind_a_commit(bus, group, request("b", 2))
    await asyncio.wait_for(a, 1)
    await turns(2)
    assert not b.done()  # gathering: two messages of four
    c = asyncio.ensure_future(group.publish(request("c", 2)))
    await asyncio.wait_for(asyncio.gather(b, c), 1)
    assert bus.commits == [["a"], ["b", "b", "c", "c"]]
