"""`Database.connection(autocommit=True)`: a lone statement in autocommit, and the connection
back in the pool in transaction mode (with or without a request deadline), or closed if it
cannot be: the next user of the pool never gets a connection in autocommit."""

from __future__ import annotations

import asyncio

import pytest

from caudal.platform.db.pool import Database, DatabaseUnavailable, deadline_scope


@pytest.mark.parametrize("deadline", [None, 2.0])
async def test_an_autocommit_read_returns_its_connection_in_transaction_mode(
    database_url: str, deadline: float | None
) -> None:
    database = Database(database_url, min_size=1, max_size=1)
    await database.open()
    try:
        with deadline_scope(deadline):
            async with database.connection(autocommit=True) as conn:
                assert conn.autocommit
                cur = await conn.execute("SELECT now() = statement_timestamp()")
                row = await cur.fetchone()
                assert row == (True,)  # no transaction around it: the statement's own time
            async with database.connection() as conn:  # the same (only) pooled connection
                assert not conn.autocommit
                cur = await conn.execute("SELECT now() = statement_timestamp()")
                await conn.execute("SELECT pg_sleep(0.01)")
                cur = await conn.execute("SELECT now() = statement_timestamp()")
                row = await cur.fetchone()
                assert row == (False,)  # one transaction: now() is its start
    finally:
        await database.close()


async def test_an_autocommit_read_interrupted_at_the_deadline_is_never_pooled(
    database_url: str,
) -> None:
    database = Database(database_url, min_size=1, max_size=1)
    await database.open()
    try:
        with deadline_scope(0.2), pytest.raises(DatabaseUnavailable):
            async with database.connection(autocommit=True) as conn:
                await conn.execute("SELECT pg_sleep(5)")
        await asyncio.sleep(0.1)
        with deadline_scope(5.0):
            async with database.connection() as conn:
                assert not conn.autocommit
                cur = await conn.execute("SELECT 1")
                assert await cur.fetchone() == (1,)
    finally:
        await database.close()
