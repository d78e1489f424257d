"""One member of a consumer group on the NATS bus.

Partitions are shared among live members through the leases bucket (a KV with a TTL of
`CAUDAL_BUS__LEASE_SECONDS`): a member renews `<group>.m.<member>` and its `<group>.p.<n>` keys
every third of the lease with compare-and-set, claims free ones with create-if-absent, and a dead
member's keys expire. Members are ordered by the time they joined (in their name), so every member
computes the same fair share without talking to the others.

Each held partition is one durable pull consumer per topic; a fetcher task keeps a small buffer
of its messages. Delivery (batches, isolation, backoff, dead letters) follows `delivery.py`; a
commit acks the last record of each topic partition (AckPolicy.ALL acks what precedes it too).
The JetStream consumer is the committed position, so a member that takes a partition over first
puts its consumer back at the first message not acked (anything the previous owner had fetched
but not finished is delivered again, in order). A gap in the consumer
sequence (a message lost on the wire, or redelivered by the server) re-positions the consumer the
same way; a consumer recreated by `caudal bus replay` is adopted as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import nats.errors
import nats.js.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, DeliverPolicy

from caudal.bus import assignment, errors, metrics
from caudal.bus.codec import dumps, loads
from caudal.bus.delivery import Delivery, wait_any
from caudal.bus.nats_codec import MSG_ID, decode_dead, encode_dead, record
from caudal.bus.nats_connection import NatsConnection, NatsUnavailable
from caudal.bus.nats_names import token
from caudal.platform.bus.model import Record
from caudal.platform.bus.port import BusUnavailable, Consumer

_log = structlog.get_logger("caudal.bus")

_FETCH_WAIT_S = 1.0
_ACK_WAIT_S = 1800.0  # never reached in practice: positions move by acks and re-positioning
_REDRIVE_EVERY_S = 1.0


def consumer_config(
    name: str, subject: str, start_seq: int | None = None, since: datetime | None = None
) -> ConsumerConfig:
    """A group's position on one topic partition: from the oldest message, a sequence or a time."""
    policy = DeliverPolicy.ALL
    if start_seq is not None:
        policy = DeliverPolicy.BY_START_SEQUENCE
    elif since is not None:
        policy = DeliverPolicy.BY_START_TIME
    return ConsumerConfig(
        durable_name=name,
        filter_subject=subject,
        deliver_policy=policy,
        opt_start_seq=start_seq,
        opt_start_time=since,
        ack_policy=AckPolicy.ALL,  # a partition commits in order: one ack per commit
        ack_wait=_ACK_WAIT_S,
        max_deliver=-1,
        max_ack_pending=20_000,
    )


async def recreate(
    js: JetStreamContext,
    stream: str,
    config: ConsumerConfig,
) -> ConsumerInfo:
    assert config.durable_name is not None
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_consumer(stream, config.durable_name)
    return await js.add_consumer(stream, config)


@dataclass
class _Cursor:
    """A held topic partition: its consumer, what was fetched and not yet committed."""

    topic: str
    name: str
    subject: str
    created: datetime
    expected: int | None  # the next consumer sequence, None: take the next as it comes
    acked: int | None  # stream sequence of the last committed message (None: see `start`)
    start: ConsumerConfig | None = None  # how a replay created it, until a commit here
    buffer: deque[tuple[Record, Msg]] = field(default_factory=deque)
    sub: Any = None
    task: asyncio.Task[None] | None = None
    room: asyncio.Event = field(default_factory=asyncio.Event)


class NatsMember:
    def __init__(self, bus: NatsConnection, consumer: Consumer) -> None:
        self.bus = bus
        self.consumer = consumer
        self.group = consumer.group
        self.topics = tuple(consumer.topics)
        self.settings = bus.settings
        self.names = bus.names
        # Sortable by join time: every member ranks the live members the same way.
        self.name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
        self.owned: set[int] = set()
        self.delivery = Delivery(consumer, self, bus.settings)
        self.wake = asyncio.Event()
        self._revisions: dict[int, int] = {}
        # Until when each lease is surely ours (measured from before its renewal was sent): past
        # it, this member neither fetches nor delivers that partition, even if it was paused.
        self._lease_until: dict[int, float] = {}
        self._cursors: dict[int, list[_Cursor]] = {}
        self._read: dict[int, list[tuple[_Cursor, int]]] = {}
        self._registered = False
        self._next_rebalance = 0.0
        self._next_redrive = 0.0
        self._redrive_sub: Any = None

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        try:
            while not stop.is_set():
                try:
                    now = time.monotonic()
                    if now >= self._next_rebalance:
                        self._next_rebalance = now + s.lease_seconds / 3
                        await self.rebalance()
                    if now >= self._next_redrive:
                        self._next_redrive = now + _REDRIVE_EVERY_S
                        await self._redrive()
                    if await self.delivery.cycle(self.owned):
                        await asyncio.sleep(0)
                        continue
                except (BusUnavailable, *NatsUnavailable) as exc:
                    _log.warning("bus_nats_unavailable", group=self.group, error=repr(exc)[:200])
                    self._next_rebalance = 0.0
                    await wait_any(stop, asyncio.Event(), s.poll_interval_seconds)
                    continue
                retry = self.delivery.next_retry_in()
                timeout = min(s.poll_interval_seconds, s.lease_seconds / 3, retry or 1e9)
                await wait_any(stop, self.wake, timeout)
                self.wake.clear()
        finally:
            await self._leave()

    async def _register(self) -> None:
        js = await self.bus.js()
        groups = await self.bus.kv(self.names.groups)
        definition = {
            "group": self.group,
            "topics": list(self.topics),
            "partitions": self.settings.partitions,
        }
        await groups.put(token(self.group), dumps(definition).encode())
        for topic in self.topics:
            for p in range(self.settings.partitions):
                name = self.names.consumer(self.group, topic, p)
                try:
                    await js.consumer_info(self.names.stream, name)
                except nats.js.errors.NotFoundError:
                    await js.add_consumer(
                        self.names.stream, consumer_config(name, self.names.subject(topic, p))
                    )
        await js.add_consumer(
            self.names.dead_stream,
            ConsumerConfig(
                durable_name=self.names.redrive_consumer(self.group),
                filter_subject=self.names.redrive_subject(self.group),
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=60.0,
            ),
        )
        self._registered = True

    async def _leave(self) -> None:
        for p in list(self.owned):
            await self._unbind(p)
        with contextlib.suppress(BusUnavailable, *NatsUnavailable):
            leases = await self.bus.kv(self.names.leases)
            for p, rev in self._revisions.items():
                with contextlib.suppress(nats.js.errors.KeyValueError):
                    await leases.delete(self.names.lease_key(self.group, p), last=rev)
            await leases.purge(self.names.member_key(self.group, self.name))
        self._revisions.clear()
        self.owned.clear()
        if self._redrive_sub is not None:
            with contextlib.suppress(Exception):
                await self._redrive_sub.unsubscribe()
        metrics.PARTITIONS_OWNED.labels(self.group).set(0)

    # -- leases ----------------------------------------------------------------------------

    async def rebalance(self) -> None:
        """Heartbeat, renew the leases held, then hold a fair share (release or claim)."""
        if not self._registered:
            await self._register()
        leases = await self.bus.kv(self.names.leases)
        errors = self.delivery.retrying()
        beat = {"retrying": len(errors), "last_error": errors[-1] if errors else None}
        await leases.put(self.names.member_key(self.group, self.name), dumps(beat).encode())
        for p in sorted(self.owned):
            sent = time.monotonic()
            try:
                self._revisions[p] = await leases.update(
                    self.names.lease_key(self.group, p), self.name.encode(), last=self._revisions[p]
                )
            except nats.js.errors.KeyValueError:
                _log.info("bus_lease_lost", group=self.group, partition=p)
                self._revisions.pop(p, None)
                await self._unbind(p)
                continue
            self._lease_until[p] = sent + self.settings.lease_seconds
        keys = await self.bus.live_keys(f"{token(self.group)}.m.*")
        members = sorted(k.rsplit(".", 1)[-1] for k in keys)
        if self.name not in members:
            members = sorted([*members, self.name])
        partitions = self.settings.partitions
        share = assignment.target(members, self.name, partitions)
        for p in sorted(self.owned)[share:]:
            await self._unbind(p)
            with contextlib.suppress(nats.js.errors.KeyValueError):
                await leases.delete(
                    self.names.lease_key(self.group, p), last=self._revisions.pop(p)
                )
        for p in range(partitions):
            if len(self.owned) >= share:
                break
            if p in self.owned:
                continue
            sent = time.monotonic()
            try:
                rev = await leases.create(self.names.lease_key(self.group, p), self.name.encode())
            except nats.js.errors.KeyValueError:
                continue  # held by a live member
            self._revisions[p] = rev
            self._lease_until[p] = sent + self.settings.lease_seconds
            await self._bind(p)
        metrics.PARTITIONS_OWNED.labels(self.group).set(len(self.owned))

    # -- partitions ------------------------------------------------------------------------

    async def _bind(self, partition: int) -> None:
        """Take a partition: position each topic's consumer at its first message not acked."""
        js = await self.bus.js()
        cursors = []
        for topic in self.topics:
            name = self.names.consumer(self.group, topic, partition)
            subject = self.names.subject(topic, partition)
            try:
                info = await js.consumer_info(self.names.stream, name)
                if info.num_ack_pending or info.num_redelivered:
                    floor = info.ack_floor.stream_seq if info.ack_floor else 0
                    info = await recreate(
                        js, self.names.stream, consumer_config(name, subject, start_seq=floor + 1)
                    )
            except nats.js.errors.NotFoundError:
                info = await js.add_consumer(self.names.stream, consumer_config(name, subject))
            cursor = _Cursor(
                topic,
                name,
                subject,
                created=info.created,
                expected=(info.delivered.consumer_seq + 1) if info.delivered else None,
                acked=info.ack_floor.stream_seq if info.ack_floor else 0,
            )
            cursor.sub = await js.pull_subscribe_bind(durable=name, stream=self.names.stream)
            cursor.room.set()
            cursor.task = asyncio.create_task(self._fetch(partition, cursor), name=f"fetch:{name}")
            self.bus.tasks.add(cursor.task)
            cursor.task.add_done_callback(self.bus.tasks.discard)
            cursors.append(cursor)
        self._cursors[partition] = cursors
        self.owned.add(partition)

    async def _unbind(self, partition: int) -> None:
        """Let a partition go: what was fetched and not committed stays pending on the server."""
        self.owned.discard(partition)
        self._lease_until.pop(partition, None)
        self.delivery.forget({partition})
        self._read.pop(partition, None)
        for cursor in self._cursors.pop(partition, []):
            if cursor.task is not None:
                cursor.task.cancel()
                await asyncio.wait({cursor.task}, timeout=5)
            with contextlib.suppress(Exception):
                await cursor.sub.unsubscribe()

    async def _fetch(self, partition: int, cursor: _Cursor) -> None:
        """Keep the cursor's buffer topped up (at most a batch ahead of the commits)."""
        batch = self.delivery.batch_size
        while True:
            held_for = self._lease_until.get(partition, 0.0) - time.monotonic()
            if held_for <= 0.05:
                await asyncio.sleep(0.1)  # the lease may be someone else's now
                continue
            room = batch - len(cursor.buffer)
            if room <= 0:
                cursor.room.clear()
                await cursor.room.wait()
                continue
            try:
                msgs = await cursor.sub.fetch(room, timeout=min(_FETCH_WAIT_S, held_for))
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost, consumer deleted: try again shortly
                _log.debug("bus_fetch_failed", consumer=cursor.name, error=repr(exc)[:200])
                await asyncio.sleep(0.5)
                with contextlib.suppress(Exception):
                    await self._resync(partition, cursor)
                continue
            for msg in msgs:
                md = msg.metadata
                if (
                    cursor.expected is not None and md.sequence.consumer != cursor.expected
                ) or md.num_delivered > 1:
                    await self._resync(partition, cursor)
                    break
                cursor.expected = md.sequence.consumer + 1
                message_id = (msg.headers or {}).get(MSG_ID, f"{md.stream}:{md.sequence.stream}")
                rec = record(msg.data, message_id, md.sequence.stream, 1, md.timestamp)
                cursor.buffer.append((rec, msg))
            self.wake.set()

    async def _resync(self, partition: int, cursor: _Cursor) -> None:
        """The consumer's deliveries are not the ones expected: adopt a consumer recreated by a
        replay, or put ours back at the first message not committed."""
        js = await self.bus.js()
        cursor.buffer.clear()
        self._read.pop(partition, None)
        self.delivery.forget({partition})
        try:
            info = await js.consumer_info(self.names.stream, cursor.name)
        except nats.js.errors.NotFoundError:
            info = None
        if info is not None and info.created != cursor.created:
            # Recreated by a replay: start it again from its own start (nothing of it was
            # committed here), so no delivery of it can have been missed in between.
            _log.info("bus_consumer_replayed", consumer=cursor.name)
            cursor.acked, cursor.start = None, info.config
        if cursor.acked is not None:
            config = consumer_config(cursor.name, cursor.subject, start_seq=cursor.acked + 1)
        else:
            assert cursor.start is not None
            config = cursor.start
        info = await recreate(js, self.names.stream, config)
        _log.info("bus_consumer_repositioned", consumer=cursor.name, at=cursor.acked)
        cursor.created, cursor.expected = info.created, 1

    # -- delivery.PartitionLog -------------------------------------------------------------

    async def read(self, partition: int, limit: int) -> list[Record]:
        if time.monotonic() >= self._lease_until.get(partition, 0.0):
            return []
        held = [
            (rec, cursor) for cursor in self._cursors.get(partition, []) for rec, _ in cursor.buffer
        ]
        held.sort(key=lambda pair: pair[0].offset)
        held = held[:limit]
        self._read[partition] = [(cursor, rec.offset) for rec, cursor in held]
        return [rec for rec, _ in held]

    async def commit(self, partition: int, through: Record) -> None:
        done = {(id(c), seq) for c, seq in self._read.get(partition, []) if seq <= through.offset}
        for cursor in self._cursors.get(partition, []):
            last = None
            while cursor.buffer and (id(cursor), cursor.buffer[0][0].offset) in done:
                rec, last = cursor.buffer.popleft()
                cursor.acked = rec.offset
            if last is not None:
                await last.ack()  # AckPolicy.ALL: everything before it too
            cursor.room.set()

    async def dead_letter(self, partition: int, record: Record, error: str) -> None:
        js = await self.bus.js()
        body = encode_dead(self.group, partition, record, record.attempt, error)
        await js.publish(self.names.dead_subject(self.group), body)
        await self.commit(partition, record)

    # -- re-drive --------------------------------------------------------------------------

    async def _redrive(self) -> None:
        """Deliver the dead letters an operator asked to re-drive (any member may take one)."""
        if not self.owned:
            return
        js = await self.bus.js()
        info = await js.consumer_info(
            self.names.dead_stream, self.names.redrive_consumer(self.group)
        )
        if not info.num_pending and not info.num_ack_pending:
            return
        if self._redrive_sub is None:
            self._redrive_sub = await js.pull_subscribe_bind(
                durable=self.names.redrive_consumer(self.group), stream=self.names.dead_stream
            )
        try:
            requests = await self._redrive_sub.fetch(100, timeout=0.5)
        except (TimeoutError, nats.errors.TimeoutError):
            return
        for request in requests:
            await self._redrive_one(js, int(request.data))
            await request.ack()
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_msg(self.names.dead_stream, request.metadata.sequence.stream)

    async def _redrive_one(self, js: JetStreamContext, seq: int) -> None:
        stream = self.names.dead_stream
        try:
            raw = await js.get_msg(stream, seq)
        except nats.js.errors.NotFoundError:
            return  # re-driven already
        assert raw.data is not None and raw.time is not None
        letter = decode_dead(raw.data, seq, raw.time, True)
        rec = Record(letter.message, letter.offset, letter.attempts + 1, letter.published_at)
        error = await self.delivery.handle([rec])
        if error is None:
            metrics.HANDLED.labels(self.group, "redriven").inc()
        else:
            metrics.HANDLED.labels(self.group, "dead_letter").inc()
            body = loads(raw.data)
            partition = int(body["partition"])
            await js.publish(
                self.names.dead_subject(self.group),
                encode_dead(self.group, partition, rec, rec.attempt, errors.describe(error)),
            )
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_msg(stream, seq)
