"""The NATS connection of the bus: one client per process, the namespace's streams and buckets
created on first use, and publishing that waits until JetStream stored every message.

The first connection gives up after trying each server a couple of times (callers answer 503);
once connected, the client reconnects for as long as it takes, and `connected()` is false while
it does, so publishers fail fast instead of waiting for a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from typing import Any

import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.kv import KeyValue

from caudal.bus.codec import partition_of
from caudal.bus.nats_codec import MSG_ID
from caudal.bus.nats_names import Names
from caudal.platform.bus.port import BusUnavailable
from caudal.platform.settings import BusSettings

_log = structlog.get_logger("caudal.bus")

# What a lost or refusing NATS raises (nats.js.errors.Error is a nats.errors.Error).
NatsUnavailable = (nats.errors.Error, asyncio.TimeoutError)
_PUBLISH_TIMEOUT_S = 5.0


class NatsConnection:
    def __init__(self, settings: BusSettings) -> None:
        self.settings = settings
        self.names = Names(settings.nats_namespace)
        self.tasks: set[asyncio.Task[Any]] = set()  # members' background tasks, ended by close()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: dict[str, KeyValue] = {}
        self._connect_lock = asyncio.Lock()
        self._closing = False  # close() in progress: its disconnection is no news

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
                    nc = await nats.connect(**self.connect_options(), max_reconnect_attempts=1)
                    nc.options["max_reconnect_attempts"] = -1
                    js = nc.jetstream(timeout=_PUBLISH_TIMEOUT_S)
                    await self._ensure(js)
                except (*NatsUnavailable, OSError) as exc:
                    if nc is not None:
                        await nc.close()
                    raise BusUnavailable(f"NATS is unavailable: {type(exc).__name__}") from exc
                self._nc, self._js = nc, js
        return self._js

    def connect_options(self) -> dict[str, Any]:
        """The client's options from the settings: servers, credentials, TLS."""
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

    async def live_keys(self, pattern: str) -> list[str]:
        """Keys of the leases bucket matching `pattern` (e.g. `g.m.*`) that hold a live value
        (deleted and expired keys leave markers behind: those are skipped)."""
        js = await self.js()
        bucket = self.names.leases
        info = await js.stream_info(f"KV_{bucket}", subjects_filter=f"$KV.{bucket}.{pattern}")
        subjects = (info.state.subjects or {}) if info.state else {}
        prefix = f"$KV.{bucket}."
        kv = await self.kv(bucket)
        found = []
        for subject in subjects:
            key = subject[len(prefix) :]
            with contextlib.suppress(nats.js.errors.KeyValueError, nats.js.errors.NotFoundError):
                entry = await kv.get(key)
                if entry.value is not None:
                    found.append(key)
        return found
