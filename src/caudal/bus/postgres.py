"""The PostgreSQL bus adapter: publish into `bus.messages`; consume with `PostgresBus.consume`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from caudal.bus.codec import dumps, partition_of
from caudal.bus.model import Message
from caudal.bus.queries import q
from caudal.platform.db.pool import Database
from caudal.platform.settings import BusSettings

NOTIFY_CHANNEL = "caudal_bus"


class PostgresBus:
    """Durable log in the `bus` schema of the application's database (see the migration)."""

    def __init__(self, database: Database, settings: BusSettings) -> None:
        self.database = database
        self.settings = settings

    def _params(self, messages: Sequence[Message]) -> dict[str, list[Any]]:
        partitions = self.settings.partitions
        return {
            "topics": [m.topic for m in messages],
            "keys": [m.key for m in messages],
            "partitions": [partition_of(m.key, partitions) for m in messages],
            "ids": [m.id for m in messages],
            "payloads": [dumps(m.payload) for m in messages],
            "headers": [dumps(m.headers) for m in messages],
        }

    async def publish(self, messages: Sequence[Message], conn: Any = None) -> None:
        """Append `messages` in one round trip. With `conn`, inside the caller's transaction
        (the outbox); otherwise in a transaction of our own, durable when this returns."""
        if not messages:
            return
        params = self._params(messages)
        if conn is not None:
            if not isinstance(conn, psycopg.AsyncConnection):
                raise TypeError("publish(conn=...) takes a psycopg AsyncConnection")
            await conn.execute(q("publish"), params)
            return
        async with self.database.connection() as own, own.transaction():
            await own.execute(q("publish"), params)
