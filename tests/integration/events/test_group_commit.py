"""The ingestion hot path's group commit, against a real PostgreSQL bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

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
    container: Container,
) -> None:
    # With a second connection a request arriving during a commit went out at once in a small
    # group of its own; with one, the requests that arrive meanwhile share the next statement
    # (PostgreSQL's per-statement work and the round trip paid per group, not per request).
    events = runtime.build(container)
    assert events.ingest.hot_path.pool.max_size == 1
    assert events.ingest.group._slots._value == 1  # the slots the group commit takes
