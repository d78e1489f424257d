"""Publishing on the PostgreSQL bus: durable on return, or with the caller's transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import psycopg
import pytest

from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import Message


@pytest.fixture
async def opened(container: Container) -> AsyncIterator[Container]:
    await container.database.open()
    yield container
    await container.database.close()


async def _stored(container: Container) -> list[tuple[str, str, str, dict[str, object]]]:
    with psycopg.connect(container.owner_url) as conn:
        rows = conn.execute(
            "SELECT topic, key, message_id, payload FROM bus.messages ORDER BY seq"
        ).fetchall()
    return [(str(t), str(k), str(i), dict(p)) for t, k, i, p in rows]


async def test_publish_without_connection_is_durable_on_return(opened: Container) -> None:
    messages = [
        Message("orders", f"k{i % 3}", {"n": i, "amount": Decimal("10.05")}, id=f"m{i}")
        for i in range(5)
    ]
    await opened.bus.publish(messages)
    rows = await _stored(opened)
    assert [(t, k, i) for t, k, i, _ in rows] == [
        ("orders", f"k{i % 3}", f"m{i}") for i in range(5)
    ]
    assert rows[0][3] == {"n": 0, "amount": "10.05"}


async def test_publish_in_callers_transaction_commits_or_rolls_back_with_it(
    opened: Container,
) -> None:
    async with opened.database.connection() as conn:
        async with conn.transaction():
            await opened.bus.publish([Message("t", "k", {"v": 1}, id="kept")], conn=conn)
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await opened.bus.publish([Message("t", "k", {"v": 2}, id="lost")], conn=conn)
                raise RuntimeError("domain write failed")
    assert [i for _, _, i, _ in await _stored(opened)] == ["kept"]


async def test_a_retried_publish_stores_a_message_once(opened: Container) -> None:
    message = Message("t", "k", {"v": 1})
    await opened.bus.publish([message])
    await opened.bus.publish([message, Message("t", "k", {"v": 2}, id="other")])
    assert [i for _, _, i, _ in await _stored(opened)] == [message.id, "other"]


async def test_an_id_stored_once_on_every_path_of_a_publish(opened: Container) -> None:
    # A publish that is its own transaction first inserts without the conflict clause and,
    # when an id is already there, again with it: the same rows, in order, as a single
    # `ON CONFLICT DO NOTHING` statement. In a caller's transaction the clause is always there
    # (a failed statement would abort the caller's work).
    await opened.bus.publish([Message("t", "k", {"v": 0}, id="a")])
    twice = Message("t", "k", {"v": 1}, id="b")
    await opened.bus.publish([twice, Message("t", "k", {"v": 2}, id="a"), twice])  # own
    async with opened.database.connection(autocommit=True) as conn:  # as the group commit
        await opened.bus.publish([Message("t", "k", {"v": 3}, id="c"), twice], conn=conn)
        await opened.bus.publish([Message("t", "k", {"v": 4}, id="d")], conn=conn)
    async with opened.database.connection() as conn, conn.transaction():
        await opened.bus.publish([Message("t", "k", {"v": 5}, id="e")], conn=conn)
        await opened.bus.publish([Message("t", "k", {"v": 6}, id="c")], conn=conn)
        await conn.execute("SELECT 1")  # the caller's transaction is still usable
    rows = await _stored(opened)
    assert [(i, p["v"]) for _, _, i, p in rows] == [
        ("a", 0),
        ("b", 1),
        ("c", 3),
        ("d", 4),
        ("e", 5),
    ]


async def test_a_message_holding_a_nul_is_refused_as_jsonb_refused_it(opened: Container) -> None:
    # Sinks and dead letters write payloads as jsonb, which cannot hold a NUL: refused at publish
    # (before and after the log's payloads became `json`), while the text `\u0000` is just text.
    text = Message("t", "k", {"v": "a\\u0000b", "w": "\\\\u0000"}, id="text")
    for nul in ({"v": "a\x00b"}, {"k\x00": 1}, {"v": "\\\x00"}):
        with pytest.raises(psycopg.errors.UntranslatableCharacter):
            await opened.bus.publish([text, Message("t", "k", nul, id="nul")])
    await opened.bus.publish([text])
    assert [(i, p) for _, _, i, p in await _stored(opened)] == [("text", text.payload)]
