"""The NATS JetStream bus adapter (`CAUDAL_BUS__BACKEND=nats`): the same contract as the
PostgreSQL bus on a distributed log.

- **Publish**: every message goes to the stream `<ns>_bus`, subject `<ns>.bus.<topic>.<partition>`
  with `Nats-Msg-Id` = the message id (JetStream drops a re-sent id within the duplicate window);
  durable once JetStream acknowledged it.
- **Outbox**: `publish(conn=...)` writes `bus.outbox` in the caller's transaction; the relay
  (`nats_relay.py`, run beside the consumers) forwards committed rows in commit-safe order.
- **Consume**: a group is one durable pull consumer per (topic, partition); its members share the
  partitions through leases in a KV bucket (`nats_member.py`); delivery follows `delivery.py`.
- **Admin**: `nats_admin.py` (status from `num_pending`, replay by recreating consumers, dead
  letters in their own stream, re-drive, drop-group).

NATS unreachable: publishers get `BusUnavailable` (the API answers 503 + Retry-After).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import psycopg
import structlog
from nats.js import JetStreamContext

from caudal.bus import metrics, outbox
from caudal.bus.codec import dumps
from caudal.bus.json_text import refuse_nul
from caudal.bus.nats_admin import NatsAdmin
from caudal.bus.nats_codec import encode
from caudal.bus.nats_connection import NatsConnection, NatsUnavailable
from caudal.bus.nats_member import NatsMember
from caudal.bus.nats_relay import OutboxRelay
from caudal.bus.notify import Notifier
from caudal.platform.bus.model import DeadLetter, GroupStatus, Message
from caudal.platform.bus.port import BusUnavailable, Consumer
from caudal.platform.db.arrays import execute_batch
from caudal.platform.db.pool import Database
from caudal.platform.settings import BusSettings

_log = structlog.get_logger("caudal.bus")

OUTBOX_CHANNEL = "caudal_outbox"
_PUBLISH_TIMEOUT_S = 5.0
T = TypeVar("T")

_OUTBOX_INSERT = """
WITH ins AS (
    INSERT INTO bus.outbox (topic, key, message_id, payload, headers)
    SELECT * FROM unnest(%(topics)s::text[], %(keys)s::text[], %(ids)s::text[],
                         %(payloads)s::text[]::json[], %(headers)s::text[]::json[])
    RETURNING 1
)
SELECT pg_notify('caudal_outbox', '') FROM (SELECT 1 FROM ins LIMIT 1) AS one
"""


class NatsBus:
    """Implements `bus.port.Bus` and `bus.port.BusAdmin` on NATS JetStream."""

    def __init__(self, database: Database, settings: BusSettings) -> None:
        self.database = database
        self.settings = settings
        self.connection = NatsConnection(settings)
        self.names = self.connection.names
        self.outbox_notifier = Notifier(database.url, OUTBOX_CHANNEL)
        self.admin = NatsAdmin(self.connection)
        self._consumers = 0
        self._relay: asyncio.Task[None] | None = None
        self._relay_stop = asyncio.Event()

    # -- connection ------------------------------------------------------------------------

    async def js(self) -> JetStreamContext:
        return await self.connection.js()

    def connected(self) -> bool:
        return self.connection.connected()

    async def readiness(self) -> tuple[bool, str]:
        """For /readyz: JetStream answers."""
        return await self.connection.readiness()

    async def close(self) -> None:
        await self._stop_relay()
        await self.connection.close()

    async def destroy(self) -> None:
        """Delete this namespace's streams and buckets (tests; `caudal` never calls it)."""
        await self.connection.destroy()

    # -- publish ---------------------------------------------------------------------------

    async def publish(self, messages: Sequence[Message], conn: Any = None) -> None:
        """Without `conn`: to JetStream, durable on return. With `conn` (a psycopg connection in
        a transaction): into `bus.outbox` in that transaction; the relay forwards it after the
        commit. Refused with `BusUnavailable` while NATS is away, so no producer believes a
        message is on its way that could wait unboundedly in the outbox."""
        if not messages:
            return
        if conn is not None:
            if not isinstance(conn, psycopg.AsyncConnection):
                raise TypeError("publish(conn=...) takes a psycopg AsyncConnection")
            if not self.connected():
                await self.js()
                if not self.connected():
                    raise BusUnavailable("NATS is unavailable")
            await execute_batch(conn, _OUTBOX_INSERT, _outbox_params(messages))
        else:
            await self.connection.send([(m.id, m.topic, m.key, encode(m)) for m in messages])
        for topic in {m.topic for m in messages}:
            metrics.PUBLISHED.labels(topic).inc(sum(1 for m in messages if m.topic == topic))

    # -- consume ---------------------------------------------------------------------------

    async def consume(self, consumer: Consumer, stop: asyncio.Event) -> None:
        """Run one member of the group; the first consumer of the process also runs the
        outbox relay (one relay works at a time per database, the others stand by)."""
        self._consumers += 1
        if self._relay is None:
            self._relay_stop.clear()
            self._relay = asyncio.create_task(
                OutboxRelay(self.connection, self.database, self.outbox_notifier).run(
                    self._relay_stop
                ),
                name="caudal-bus-relay",
            )
        try:
            await self.member(consumer).run(stop)
        finally:
            self._consumers -= 1
            if not self._consumers:
                await self._stop_relay()

    async def _stop_relay(self) -> None:
        relay, self._relay = self._relay, None
        if relay is not None:
            self._relay_stop.set()
            await asyncio.wait({relay}, timeout=10)

    def member(self, consumer: Consumer) -> NatsMember:
        return NatsMember(self.connection, consumer)

    async def outbox_backlog(self) -> outbox.Backlog:
        """Committed outbox rows the relay has not forwarded yet (`bus.outbox.HasOutbox`)."""
        return await outbox.read_backlog(self.database)

    # -- admin (bus.port.BusAdmin) ---------------------------------------------------------

    async def status(self) -> list[GroupStatus]:
        return await _admin(self.admin.status())

    async def group_lag(self, group: str) -> int:
        return sum(g.lag for g in await self.status() if g.group == group)

    async def replay(
        self, group: str, *, from_offset: int | None = None, since: datetime | None = None
    ) -> int:
        return await _admin(self.admin.replay(group, from_offset=from_offset, since=since))

    async def dead_letters(self, group: str | None = None, limit: int = 100) -> list[DeadLetter]:
        return await _admin(self.admin.dead_letters(group, limit))

    async def redrive(self, group: str | None = None, ids: Sequence[int] = ()) -> int:
        return await _admin(self.admin.redrive(group, ids))

    async def drop_group(self, group: str) -> bool:
        return await _admin(self.admin.drop_group(group))


async def _admin(call: Awaitable[T]) -> T:
    """Admin calls fail like the database's when NATS is away (the CLI, /metrics, dashboard)."""
    try:
        return await call
    except NatsUnavailable as exc:
        raise BusUnavailable(f"NATS is unavailable: {type(exc).__name__}") from exc


def _outbox_params(messages: Sequence[Message]) -> dict[str, list[str]]:
    """Payloads and headers as JSON text for the outbox's `json` columns (bus migration 0004),
    refused if they hold a NUL as `jsonb` refused them (`bus.json_text`)."""
    payloads = [dumps(m.payload) for m in messages]
    headers = [dumps(m.headers) for m in messages]
    for document in (*payloads, *headers):
        refuse_nul(document)
    return {
        "topics": [m.topic for m in messages],
        "keys": [m.key for m in messages],
        "ids": [m.id for m in messages],
        "payloads": payloads,
        "headers": headers,
    }
