"""Group reads (`platform/db/batched_reads.KeyedBatchLoader`) with a fake fetch: concurrent
callers share fetches, a caller only joins a fetch not yet sent, failure reaches every caller
of its batch, a caller that goes away breaks nothing, batches are bounded, deadlines travel."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from caudal.platform.db.batched_reads import KeyedBatchLoader
from caudal.platform.db.pool import DatabaseUnavailable, deadline_scope


class FakeStore:
    """A table of key -> value read by fetches; each fetch reads the table when it is sent (its
    snapshot), then waits for `gate` if one is set (a round trip in flight)."""

    def __init__(self, table: dict[str, str] | None = None) -> None:
        self.table = dict(table or {})
        self.fetched: list[list[str]] = []
        self.deadlines: list[float | None] = []
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()
        self.fail: Exception | None = None

    async def fetch(self, keys: list[str], deadline: float | None) -> Mapping[str, str]:
        self.fetched.append(list(keys))
        self.deadlines.append(deadline)
        snapshot = {k: self.table[k] for k in keys if k in self.table}
        failure, self.fail = self.fail, None
        self.started.set()
        if self.gate is not None:
            gate, self.gate = self.gate, None
            await gate.wait()
        if failure is not None:
            raise failure
        return snapshot


async def fetch_sent(store: FakeStore) -> None:
    """Until the next fetch (or the one already sent, if not waited for yet) has read."""
    await asyncio.wait_for(store.started.wait(), 2)
    store.started.clear()


async def test_an_idle_caller_is_fetched_at_once_and_alone() -> None:
    store = FakeStore({"a": "A"})
    loader = KeyedBatchLoader(store.fetch)
    assert await asyncio.wait_for(loader.load("a"), 1) == "A"
    assert await loader.load("nobody") is None
    assert store.fetched == [["a"], ["nobody"]]


async def test_callers_queued_behind_a_fetch_share_the_next_one_in_arrival_order() -> None:
    store = FakeStore({f"k{n}": f"v{n}" for n in range(20)})
    gate = store.gate = asyncio.Event()
    loader = KeyedBatchLoader(store.fetch, max_inflight=1)
    first = asyncio.ensure_future(loader.load("k0"))
    await fetch_sent(store)
    rest = [asyncio.ensure_future(loader.load(f"k{n}")) for n in range(1, 20)]
    await asyncio.sleep(0.01)
    assert store.fetched == [["k0"]]  # one fetch at a time: the others wait for it
    gate.set()
    assert await asyncio.gather(first, *rest) == [f"v{n}" for n in range(20)]
    assert store.fetched == [["k0"], [f"k{n}" for n in range(1, 20)]]


async def test_duplicate_keys_are_fetched_once_and_answer_every_caller() -> None:
    store = FakeStore({"a": "A", "b": "B"})
    gate = store.gate = asyncio.Event()
    loader = KeyedBatchLoader(store.fetch)
    first = asyncio.ensure_future(loader.load("x"))
    await fetch_sent(store)
    waiting = [asyncio.ensure_future(loader.load(k)) for k in ("a", "b", "a", "c", "a")]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(first, *waiting) == [None, "A", "B", "A", None, "A"]
    assert store.fetched[1] == ["a", "b", "c"]


async def test_a_caller_never_joins_a_fetch_already_sent() -> None:
    """Read-your-writes: a write committed while a fetch of the same key is in flight is seen
    by a caller arriving after the commit (a loader that let it share the fetch in flight for
    that key would answer the value from before)."""
    store = FakeStore({"a": "before"})
    gate = store.gate = asyncio.Event()
    loader = KeyedBatchLoader(store.fetch, max_inflight=2)
    early = asyncio.ensure_future(loader.load("a"))
    await fetch_sent(store)
    store.table["a"] = "after"  # committed while the first fetch is in flight
    late = asyncio.ensure_future(loader.load("a"))
    assert await asyncio.wait_for(late, 1) == "after"
    gate.set()
    assert await early == "before"
    assert store.fetched == [["a"], ["a"]]


async def test_with_one_fetch_in_flight_a_later_caller_waits_for_the_next_fetch() -> None:
    store = FakeStore({"a": "before"})
    gate = store.gate = asyncio.Event()
    loader = KeyedBatchLoader(store.fetch, max_inflight=1)
    early = asyncio.ensure_future(loader.load("a"))
    await fetch_sent(store)
    del store.table["a"]  # an erasure commits while the first fetch is in flight
    late = asyncio.ensure_future(loader.load("a"))
    gate.set()
    assert await early == "before"
    assert await late is None
    assert store.fetched == [["a"], ["a"]]


async def test_a_failed_fetch_fails_every_caller_of_its_batch_and_the_next_batch_is_served() -> (
    None
):
    store = FakeStore({"a": "A", "b": "B"})
    gate = store.gate = asyncio.Event()
    loader = KeyedBatchLoader(store.fetch, max_inflight=1)
    first = asyncio.ensure_future(loader.load("a"))
    await fetch_sent(store)
    down = DatabaseUnavailable("server closed the connection")
    store.fail = down
    batch = [asyncio.ensure_future(loader.load(k)) for k in ("a", "b", "zz")]
    gate.set()
    assert await first == "A"
    outcomes = await asyncio.gather(*batch, return_exceptions=True)
    assert outcomes == [down, down, down]
    assert await loader.load("b") == "B"


async def test_a_caller_that_goes_away_leaves_the_batch_to_the_others() -> None:
    store = FakeStore({"a": "A", "b": "B", "c": "C"})
    gate = store.gate = asyncio.Event()
    loader = KeyedBatchLoader(store.fetch, max_inflight=1)
    first = asyncio.ensure_future(loader.load("a"))
    await fetch_sent(store)
    queued_gone = asyncio.ensure_future(loader.load("c"))
    others = [asyncio.ensure_future(loader.load(k)) for k in ("a", "b")]
    await asyncio.sleep(0)
    queued_gone.cancel()  # client gone while queued: its key is not even fetched
    first.cancel()  # client gone while its fetch is in flight
    gate.set()
    assert await asyncio.gather(*others) == ["A", "B"]
    assert store.fetched == [["a"], ["a", "b"]]
    assert queued_gone.cancelled() and first.cancelled()
    gate = store.gate = asyncio.Event()
    store.started.clear()
    in_flight = [asyncio.ensure_future(loader.load(k)) for k in ("a", "b", "c")]
    await fetch_sent(store)
    assert store.fetched[-1] == ["a", "b", "c"]
    in_flight[1].cancel()
    gate.set()
    assert await in_flight[0] == "A" and await in_flight[2] == "C"
    assert await loader.load("b") == "B"  # the loader still serves


async def test_a_batch_holds_at_most_max_keys_callers() -> None:
    store = FakeStore({f"k{n}": str(n) for n in range(11)})
    gate = store.gate = asyncio.Event()
    loader = KeyedBatchLoader(store.fetch, max_keys=4, max_inflight=1)
    first = asyncio.ensure_future(loader.load("k0"))
    await fetch_sent(store)
    rest = [asyncio.ensure_future(loader.load(f"k{n}")) for n in range(1, 11)]
    gate.set()
    assert await asyncio.gather(first, *rest) == [str(n) for n in range(11)]
    assert [len(keys) for keys in store.fetched] == [1, 4, 4, 2]
    with pytest.raises(ValueError):
        KeyedBatchLoader(store.fetch, max_keys=0)


async def test_a_batch_is_bounded_by_the_earliest_deadline_of_its_callers() -> None:
    store = FakeStore({"a": "A"})
    gate = store.gate = asyncio.Event()
    loader = KeyedBatchLoader(store.fetch, max_inflight=1)
    loop = asyncio.get_running_loop()
    first = asyncio.ensure_future(loader.load("a"))  # no deadline_scope: none
    await fetch_sent(store)
    asked = loop.time()
    with deadline_scope(5.0):
        late = asyncio.ensure_future(loader.load("a"))
    with deadline_scope(0.5):
        early = asyncio.ensure_future(loader.load("b"))
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, late, early)
    assert store.deadlines[0] is None
    deadline = store.deadlines[1]
    assert deadline is not None and asked + 0.5 <= deadline < asked + 1.0


async def test_closing_fails_the_callers_in_flight_and_queued() -> None:
    store = FakeStore({"a": "A"})
    store.gate = asyncio.Event()
    loader = KeyedBatchLoader(store.fetch, max_inflight=1)
    in_flight = asyncio.ensure_future(loader.load("a"))
    await fetch_sent(store)
    queued = asyncio.ensure_future(loader.load("a"))
    await asyncio.sleep(0)
    await loader.close()
    for caller in (in_flight, queued):
        with pytest.raises(DatabaseUnavailable):
            await caller
    with pytest.raises(DatabaseUnavailable):
        await loader.load("a")
