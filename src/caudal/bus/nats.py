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
import contextlib
import ssl
from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
import psycopg
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.kv import KeyValue

from caudal.bus import metrics
from caudal.bus.codec import dumps, partition_of
from caudal.bus.model import DeadLetter, GroupStatus, Message
from caudal.bus.nats_admin import NatsAdmin
from caudal.bus.nats_codec import MSG_ID, encode
from caudal.bus.nats_member import NatsMember, NatsUnavailable
from caudal.bus.nats_names import Names
from caudal.bus.nats_relay import OutboxRelay
from caudal.bus.notify import Notifier
from caudal.bus.port import BusUnavailable, Consumer
from caudal.bus.postgres import _execute
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
                         %(payloads)s::text[]::jsonb[], %(headers)s::text[]::jsonb[])
    RETURNING 1
)
SELECT pg_notify('caudal_outbox', '') FROM (SELECT 1 FROM ins LIMIT 1) AS one
"""


class NatsBus:
    """Implements `bus.port.Bus` and `bus.port.BusAdmin` on NATS JetStream."""

    def __init__(self, database: Database, settings: BusSettings) -> None:
        self.database = database
        self.settings = settings
        self.names = Names(settings.nats_namespace)
        self.outbox_notifier = Notifier(database.url, OUTBOX_CHANNEL)
        self.admin = NatsAdmin(self)
        self.tasks: set[asyncio.Task[Any]] = set()  # members' background tasks, ended by close()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: dict[str, KeyValue] = {}
        self._connect_lock = asyncio.Lock()
        self._consumers = 0
        self._relay: asyncio.Task[None] | None = None
        self._relay_stop = asyncio.Event()
        self._closing = False  # close() in progress: its disconnection is no news

    # -- connection ------------------------------------------------------------------------

    async def js(self) -> JetStreamContext:
        """The JetStream context, connecting (and creating streams and buckets) on first use."""
        if self._js is not None and self._nc is not None and not self._nc.is_closed:
            return self._js
        async with self._connect_lock:
            if self._js is None or self._nc is None or self._nc.is_closed:
                nc: Client | None = None
                try:
                    # The first connection tries each server a couple of times and gives up (an
                    # unbounded retry here would hang /readyz and publishers); once connected,
                    # the client reconnects for as long as it takes.
                    nc = await nats.connect(**self._connect_options(), max_reconnect_attempts=1)
                    nc.options["max_reconnect_attempts"] = -1
                    js = nc.jetstream(timeout=_PUBLISH_TIMEOUT_S)
                    await self._ensure(js)
                except (*NatsUnavailable, OSError) as exc:
                    if nc is not None:
                        await nc.close()
                    raise BusUnavailable(f"NATS is unavailable: {type(exc).__name__}") from exc
                self._nc, self._js = nc, js
        return self._js

    def _connect_options(self) -> dict[str, Any]:
        s = self.settings
        options: dict[str, Any] = {
            "servers": [u.strip() for u in s.nats_url.split(",") if u.strip()],
            "name": "caudal",
            "connect_timeout": 2,
            "allow_reconnect": True,
            "reconnect_time_wait": 0.5,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
        }
        if s.nats_user:
            options["user"] = s.nats_user
            options["password"] = s.nats_password.get_secret_value() if s.nats_password else None
        if s.nats_token:
            options["token"] = s.nats_token.get_secret_value()
        if s.nats_creds:
            options["user_credentials"] = str(s.nats_creds)
        if s.nats_tls_ca or s.nats_tls_cert:
            context = ssl.create_default_context(
                cafile=str(s.nats_tls_ca) if s.nats_tls_ca else None
            )
            if s.nats_tls_cert:
                key = str(s.nats_tls_key) if s.nats_tls_key else None
                context.load_cert_chain(str(s.nats_tls_cert), key)
            options["tls"] = context
        return options

    async def _ensure(self, js: JetStreamContext) -> None:
        """Create (or bring up to date) the streams and buckets of this namespace."""
        s, n = self.settings, self.names
        streams = [
            StreamConfig(
                name=n.stream,
                subjects=[f"{n.namespace}.bus.>"],
                storage=StorageType.FILE,
                num_replicas=s.nats_replicas,
                duplicate_window=s.nats_duplicate_window_seconds,
                max_age=s.retention_days * 86400,
            ),
            StreamConfig(
                name=n.dead_stream,
                subjects=[f"{n.namespace}.dlq.>", f"{n.namespace}.redrive.>"],
                storage=StorageType.FILE,
                num_replicas=s.nats_replicas,
            ),
        ]
        for config in streams:
            try:
                await js.add_stream(config)
            except nats.js.errors.BadRequestError:  # exists with other settings: bring them up
                assert config.name is not None  # to date, keeping the operator's placement
                config.placement = (await js.stream_info(config.name)).config.placement
                await js.update_stream(config)
        self._kv[n.leases] = await js.create_key_value(
            KeyValueConfig(
                bucket=n.leases, ttl=s.lease_seconds, history=1, replicas=s.nats_replicas
            )
        )
        self._kv[n.groups] = await js.create_key_value(
            KeyValueConfig(bucket=n.groups, history=1, replicas=s.nats_replicas)
        )

    async def kv(self, bucket: str) -> KeyValue:
        await self.js()
        return self._kv[bucket]

    async def _on_error(self, exc: Exception) -> None:
        if not self._closing:
            _log.warning("nats_error", error=type(exc).__name__)

    async def _on_disconnected(self) -> None:
        if not self._closing:
            _log.warning("nats_disconnected")

    async def _on_reconnected(self) -> None:
        _log.info("nats_reconnected")

    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def readiness(self) -> tuple[bool, str]:
        """For /readyz: JetStream answers."""
        try:
            js = await self.js()
            await asyncio.wait_for(js.account_info(), 2.0)
        except (BusUnavailable, *NatsUnavailable) as exc:
            return False, f"NATS JetStream is unavailable ({type(exc).__name__})"
        return True, "ready"

    async def close(self) -> None:
        await self._stop_relay()
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=5)
        nc, self._nc, self._js = self._nc, None, None
        self._kv.clear()
        if nc is not None and not nc.is_closed:
            self._closing = True
            try:
                await nc.close()
            finally:
                self._closing = False

    async def destroy(self) -> None:
        """Delete this namespace's streams and buckets (tests; `caudal` never calls it)."""
        js = await self.js()
        n = self.names
        for stream in (n.stream, n.dead_stream, f"KV_{n.leases}", f"KV_{n.groups}"):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(stream)

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
            await _execute(conn, _OUTBOX_INSERT, _outbox_params(messages))
        else:
            await self.send([(m.id, m.topic, m.key, encode(m)) for m in messages])
        for topic in {m.topic for m in messages}:
            metrics.PUBLISHED.labels(topic).inc(sum(1 for m in messages if m.topic == topic))

    async def send(self, items: Sequence[tuple[str, str, str, bytes]]) -> None:
        """Publish (id, topic, key, body) in order and wait until JetStream stored every one.
        Sent back to back on one connection: the server stores them in this order."""
        js = await self.js()
        if not self.connected():  # reconnecting: fail now rather than after the timeout
            raise BusUnavailable("NATS is unavailable (reconnecting)")
        partitions = self.settings.partitions
        try:
            futures = [
                await js.publish_async(
                    self.names.subject(topic, partition_of(key, partitions)),
                    body,
                    headers={MSG_ID: message_id},
                )
                for message_id, topic, key, body in items
            ]
            await asyncio.wait_for(asyncio.gather(*futures), _PUBLISH_TIMEOUT_S)
        except NatsUnavailable as exc:
            raise BusUnavailable(f"NATS did not store the messages: {type(exc).__name__}") from exc

    # -- consume ---------------------------------------------------------------------------

    async def consume(self, consumer: Consumer, stop: asyncio.Event) -> None:
        """Run one member of the group; the first consumer of the process also runs the
        outbox relay (one relay works at a time per database, the others stand by)."""
        self._consumers += 1
        if self._relay is None:
            self._relay_stop.clear()
            self._relay = asyncio.create_task(
                OutboxRelay(self).run(self._relay_stop), name="caudal-bus-relay"
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
        return NatsMember(self, consumer)

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
    return {
        "topics": [m.topic for m in messages],
        "keys": [m.key for m in messages],
        "ids": [m.id for m in messages],
        "payloads": [dumps(m.payload) for m in messages],
        "headers": [dumps(m.headers) for m in messages],
    }
