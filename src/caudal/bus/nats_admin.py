"""`caudal bus status|replay|dlq|drop-group` on the NATS bus.

Lag is the consumers' `num_pending` + `num_ack_pending`; a replay recreates the group's
consumers at a stream sequence or a time (running members adopt them); dead letters are the
messages of `<ns>.dlq.<group>` in the dead-letter stream, and a re-drive request is one message
on `<ns>.redrive.<group>` that a member of the group consumes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import nats.js.errors

from caudal.bus.codec import loads
from caudal.bus.nats_codec import decode_dead
from caudal.bus.nats_connection import NatsConnection
from caudal.bus.nats_member import consumer_config, recreate
from caudal.bus.nats_names import token
from caudal.platform.bus.model import DeadLetter, GroupStatus


class NatsAdmin:
    def __init__(self, bus: NatsConnection) -> None:
        self.bus = bus
        self.names = bus.names

    async def groups(self) -> list[dict[str, Any]]:
        js = await self.bus.js()
        bucket = self.names.groups
        info = await js.stream_info(f"KV_{bucket}", subjects_filter=f"$KV.{bucket}.>")
        kv = await self.bus.kv(bucket)
        found = []
        for subject in (info.state.subjects or {}) if info.state else {}:
            with contextlib.suppress(nats.js.errors.KeyValueError, nats.js.errors.NotFoundError):
                entry = await kv.get(subject[len(f"$KV.{bucket}.") :])
                if entry.value:
                    found.append(loads(entry.value))
        return sorted(found, key=lambda g: str(g["group"]))

    async def _group(self, group: str) -> dict[str, Any]:
        kv = await self.bus.kv(self.names.groups)
        try:
            entry = await kv.get(token(group))
        except (nats.js.errors.KeyValueError, nats.js.errors.NotFoundError):
            raise LookupError(group) from None
        if not entry.value:
            raise LookupError(group)
        found: dict[str, Any] = loads(entry.value)
        return found

    async def status(self) -> list[GroupStatus]:
        js = await self.bus.js()
        found = []
        for g in await self.groups():
            name, topics, partitions = g["group"], tuple(g["topics"]), int(g["partitions"])
            lag, oldest = 0, None
            for topic in topics:
                for p in range(partitions):
                    try:
                        info = await js.consumer_info(
                            self.names.stream, self.names.consumer(name, topic, p)
                        )
                    except nats.js.errors.NotFoundError:
                        continue
                    pending = (info.num_pending or 0) + (info.num_ack_pending or 0)
                    if not pending:
                        continue
                    lag += pending
                    floor = info.ack_floor.stream_seq if info.ack_floor else 0
                    with contextlib.suppress(nats.js.errors.NotFoundError):
                        first = await js.get_msg(
                            self.names.stream,
                            floor + 1,
                            subject=self.names.subject(topic, p),
                            next=True,
                        )
                        if first.time is not None and (oldest is None or first.time < oldest):
                            oldest = first.time
            beats = await self._member_beats(name)
            errors = [b["last_error"] for b in beats if b.get("last_error")]
            found.append(
                GroupStatus(
                    group=name,
                    topics=topics,
                    partitions=partitions,
                    owned=len(await self.bus.live_keys(f"{token(name)}.p.*")),
                    members=len(beats),
                    lag=lag,
                    dead_letters=await self._count(self.names.dead_subject(name)),
                    retrying=sum(int(b.get("retrying") or 0) for b in beats),
                    last_error=errors[-1] if errors else None,
                    oldest_pending_at=oldest,
                )
            )
        return found

    async def _member_beats(self, group: str) -> list[dict[str, Any]]:
        kv = await self.bus.kv(self.names.leases)
        beats = []
        for key in sorted(await self.bus.live_keys(f"{token(group)}.m.*")):
            with contextlib.suppress(nats.js.errors.KeyValueError, nats.js.errors.NotFoundError):
                entry = await kv.get(key)
                beats.append(loads(entry.value) if entry.value else {})
        return beats

    async def _count(self, subject: str) -> int:
        js = await self.bus.js()
        info = await js.stream_info(self.names.dead_stream, subjects_filter=subject)
        return sum((info.state.subjects or {}).values()) if info.state else 0

    async def replay(
        self, group: str, *, from_offset: int | None = None, since: datetime | None = None
    ) -> int:
        if (from_offset is None) == (since is None):
            raise ValueError("give exactly one of from_offset or since")
        g = await self._group(group)
        js = await self.bus.js()
        pending = 0
        for topic in g["topics"]:
            for p in range(int(g["partitions"])):
                config = consumer_config(
                    self.names.consumer(group, topic, p),
                    self.names.subject(topic, p),
                    start_seq=max(from_offset, 1) if from_offset is not None else None,
                    since=since,
                )
                info = await recreate(js, self.names.stream, config)
                pending += info.num_pending or 0
        return pending

    async def _messages(self, stream: str, subject: str, limit: int) -> list[Any]:
        """Messages of a stream on a subject, oldest first (direct gets, no consumer)."""
        js = await self.bus.js()
        found: list[Any] = []
        seq = 1
        while len(found) < limit:
            try:
                raw = await js.get_msg(stream, seq, subject=subject, next=True)
            except nats.js.errors.NotFoundError:
                break
            found.append(raw)
            seq = int(raw.seq or seq) + 1
        return found

    async def dead_letters(self, group: str | None = None, limit: int = 100) -> list[DeadLetter]:
        stream = self.names.dead_stream
        if not await self._count(self.names.dead_subject(group)):
            return []
        requested = {
            int(r.data)
            for r in await self._messages(stream, self.names.redrive_subject(group), 100_000)
            if r.data
        }
        return [
            decode_dead(raw.data, int(raw.seq), raw.time, int(raw.seq) in requested)
            for raw in await self._messages(stream, self.names.dead_subject(group), limit)
        ]

    async def redrive(self, group: str | None = None, ids: Sequence[int] = ()) -> int:
        js = await self.bus.js()
        count = 0
        for d in await self.dead_letters(group, limit=100_000):
            if (ids and d.id not in ids) or d.redrive_requested:
                continue
            await js.publish(self.names.redrive_subject(d.group), str(d.id).encode())
            count += 1
        return count

    async def drop_group(self, group: str) -> bool:
        try:
            g = await self._group(group)
        except LookupError:
            return False
        js = await self.bus.js()
        for topic in g["topics"]:
            for p in range(int(g["partitions"])):
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await js.delete_consumer(
                        self.names.stream, self.names.consumer(group, topic, p)
                    )
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_consumer(self.names.dead_stream, self.names.redrive_consumer(group))
        leases = await self.bus.kv(self.names.leases)
        for key in await self.bus.live_keys(f"{token(group)}.>"):
            with contextlib.suppress(nats.js.errors.KeyValueError):
                await leases.purge(key)
        await (await self.bus.kv(self.names.groups)).purge(token(group))
        return True
