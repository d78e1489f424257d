"""The ingestion hot path's group commit, against a real PostgreSQL bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from caudal.events import runtime
from caudal.events.group_commit import GroupCommit
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import Message
from caudal.platform.db.pool import Database
from tests.integration.events.conftest import Sql


@pytest.fixture
async def hot_path(container: Container) -> AsyncIterator[Database]:
    database = Database(container.app_url, min_size=1, max_size=2)
    await database.open()
    yield database
    await database.close()


def messages(request: int, count: int, text: str = "ok") -> list[Message]:
    return [
        Message(topic="events", key=f"k{request}", payload={"request": request, "n": n, "t": text})
        for n in range(count)
    ]


async def test_concurrent_requests_share_commits_and_each_waits_for_its_own(
    container: Container, hot_path: Database, db: Sql
) -> None:
    group = GroupCommit(hot_path, container.bus, max_inflight=2)
    await asyncio.gather(*(group.publish(messages(r, 3)) for r in range(60)))
    stored = db.rows(
        "SELECT payload->>'request', count(*), count(DISTINCT xid) FROM bus.messages GROUP BY 1"
    )
    assert len(stored) == 60
    assert all(count == 3 and xids == 1 for _, count, xids in stored)  # a request is atomic
    transactions = db.one("SELECT count(DISTINCT xid) FROM bus.messages")
    assert transactions < 60  # grouped: fewer commits than requests


async def test_a_request_the_database_refuses_fails_alone(
    container: Container, hot_path: Database, db: Sql
) -> None:
    group = GroupCommit(hot_path, container.bus, max_inflight=1)
    outcomes = await asyncio.gather(
        *(group.publish(messages(r, 2, "bad\u0000" if r == 7 else "ok")) for r in range(20)),
        return_exceptions=True,
    )
    failed = [r for r, outcome in enumerate(outcomes) if isinstance(outcome, Exception)]
    assert failed == [7]
    requests = {int(r) for (r,) in db.rows("SELECT DISTINCT payload->>'request' FROM bus.messages")}
    assert requests == set(range(20)) - {7}


async def test_the_ingestion_keeps_one_group_commit_in_flight_per_process(
    container: Container, hot_path: Database
) -> None:
    # With a second commit free to start, a request arriving during a commit went out at once
    # in a small group of its own; with one, the requests that arrive meanwhile share the next
    # statement (PostgreSQL's per-statement work and the round trip paid per group, not per
    # request). The second connection serves only a stalled commit (the next test).
    events = runtime.build(container)
    assert events.ingest.hot_path.pool.max_size == events.ingest.group.max_inflight == 2
    group = GroupCommit(hot_path, container.bus, stall_floor_seconds=30)
    write, now, peak = group._write, 0, 0

    async def counted(batch: list[Message]) -> None:
        nonlocal now, peak
        now += 1
        peak = max(peak, now)
        try:
            await write(batch)
        finally:
            now -= 1

    group._write = counted  # type: ignore[method-assign]
    for _ in range(3):
        await asyncio.gather(*(group.publish(messages(r, 1)) for r in range(100)))
    assert peak == 1


@pytest.mark.parametrize("max_inflight", [2, 1])
async def test_a_stalled_commit_does_not_hold_back_the_process(
    container: Container, hot_path: Database, db: Sql, database_url: str, max_inflight: int
) -> None:
    """A statement stuck on a lock (here: a trigger waiting for an advisory lock this test
    holds) holds back only its own group: the next requests commit beside it once it has run
    longer than `stalled_after()`. With one commit in flight at most, they wait (the control)."""
    db.execute(
        "CREATE FUNCTION public.stall() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NEW; END $$"
    )
    db.execute(
        "CREATE TRIGGER stall BEFORE INSERT ON bus.messages FOR EACH ROW "
        "WHEN (NEW.key = 'stall') EXECUTE FUNCTION public.stall()"
    )
    group = GroupCommit(hot_path, container.bus, max_inflight=max_inflight)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as holder:
        await holder.execute("SELECT pg_advisory_lock(4242)")
        stuck = asyncio.create_task(
            group.publish([Message(topic="events", key="stall", payload={"n": -1})])
        )
        await asyncio.sleep(group.stalled_after() + 0.1)
        assert not stuck.done()
        others = asyncio.gather(*(group.publish(messages(r, 2)) for r in range(20)))
        done, _ = await asyncio.wait([others], timeout=5)
        assert bool(done) == (max_inflight > 1)
        committed = db.one("SELECT count(*) FROM bus.messages")
        assert committed == (40 if max_inflight > 1 else 0)
        assert not stuck.done()
        await holder.execute("SELECT pg_advisory_unlock(4242)")
        await asyncio.wait_for(stuck, timeout=10)
        await asyncio.wait_for(others, timeout=10)
    assert db.one("SELECT count(*) FROM bus.messages") == 41


async def test_a_request_reaching_publish_one_turn_later_joins_the_group(
    container: Container, hot_path: Database, db: Sql
) -> None:
    """The drain takes its group one event-loop turn after it starts: a request whose handler
    reaches `publish` in that turn (its bytes arrived with the previous commit's answer) is
    committed with the first, not a commit later."""
    group = GroupCommit(hot_path, container.bus, max_inflight=1)

    async def one_turn_later(request: int) -> None:
        await asyncio.sleep(0)
        await group.publish(messages(request, 1))

    await asyncio.gather(group.publish(messages(0, 2)), one_turn_later(1), one_turn_later(2))
    stored = db.rows("SELECT payload->>'request', xid::text FROM bus.messages ORDER BY 1")
    assert [request for request, _ in stored] == ["0", "0", "1", "2"]
    assert len({xid for _, xid in stored}) == 1  # one commit for the three requests
