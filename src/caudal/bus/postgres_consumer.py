"""One member of a consumer group on the PostgreSQL bus.

The group's partitions are leased fairly among its live members (`bus.members` heartbeats,
`bus.offsets.owner` leases that expire when a worker dies). Each cycle reads, for every leased
partition, the records after its committed position and below the snapshot horizon, hands them
to the consumer in one batch, and commits the new positions. A failed batch puts its partitions
in isolation: their records are retried one at a time, so a poison message alone goes to the
dead letters and the group moves on: at once when its error is permanent, after the configured
attempts with exponential backoff when it is transient (the policy is in bus/errors.py).

A consumer with a kind filter (`Filtering`) is fetched with `fetch_kinds`: PostgreSQL reads a
window of positions and returns only the rows the filter takes, plus the window's end when what
follows the last of them was left out; the member commits to that end, so the group's position
(and its lag) moves past messages it would not have taken, without receiving them.

Prefetch: while a batch that filled a partition's share is written, the member already reads
the next one (`_prefetch_after`), from the end of the batch being written, on the same terms as
`bus.runs` uses (`fetch` reads a partition from a given position only where the stored one is
still the one expected). That batch is delivered only if the one before committed every
partition through its last record and the member's partitions did not change meanwhile;
otherwise it is dropped and the member reads afresh from its committed positions (a failed
write, a lost lease, a replay, a rebalance). Positions are still committed only after their
batch's write, one batch after the other, so a partition's records keep their order. Why the
early read never skips a row committed late is the argument of `fetched_runs.py`: it returns
the rows after the batch's last position below its own snapshot horizon, which is never lower
than the one the batch was read under; a row between the batch's last position and the last
one read early has a transaction below that horizon, so the early read has it, as a read made
after the commit would (whose horizon is higher still: it may only see more rows after them,
which the next cycle reads).
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import time
import uuid
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import psycopg
import structlog
from psycopg import AsyncCursor
from psycopg.rows import class_row, dict_row, scalar_row

from caudal.bus import assignment, errors, metrics
from caudal.bus.codec import dumps, loads
from caudal.bus.delivery import BatchDelivery, kinds_of, wait_any
from caudal.bus.fetched_runs import FetchedRuns, Position, Row
from caudal.bus.kind_sql import kind_params
from caudal.bus.message_cache import MessageCache
from caudal.bus.notify import Notifier
from caudal.bus.pacing import Pacing
from caudal.bus.queries import q
from caudal.platform.bus.model import KindFilter, Message, Record
from caudal.platform.bus.port import Consumer
from caudal.platform.db.pool import Database, DatabaseUnavailable
from caudal.platform.db.rows import fetch_all, fetch_one
from caudal.platform.settings import BusSettings

_log = structlog.get_logger("caudal.bus")

_RETENTION_CHECK_EVERY_S = 5.0
_REDRIVE_EVERY_S = 1.0  # how soon a requested re-drive starts
_QUICK_POLL_S = 0.02
# A filtered group reads this many positions per record it may take: a group that takes a few
# kinds passes a backlog of others in a few large windows rather than a batch's worth each time.
_SCAN_FACTOR = 8
# ... and this many while it passes a run of kinds it leaves out (a window full of them, none
# taken): a window costs two round trips whatever its size. Passing a flood of other kinds on
# one key in windows of 8 cost `caudal up` ~40 % more CPU per event than in windows of 64
# (bench/profiles/README.md).
_PASSING_SCAN_FACTOR = 64
MOVES_TOPIC = "caudal.bus.members"  # `<this>:<group>`: a member released or lacks partitions
# Positional columns, as `fetch`, `fetch_kinds` and `fetch_messages` select them
# (queries.sql): (partition, from_xid, from_seq, attempts, isolated) of a partition's offsets
_Header = tuple[int, str, int, int, bool]
_Read = tuple[_Header, list[Row]]  # a partition's offsets and the positions read after them
# Per partition of a batch being written: (its stored position, its last record's position)
_Ahead = dict[int, tuple[Position, Position]]


def bigint_array(values: Sequence[int]) -> str:
    """A `bigint[]` parameter as its text literal: psycopg's list dumper spends a Python call
    per element (~0.5 µs), and `fetch_messages` names every message a process decodes."""
    return "{" + ",".join(map(str, values)) + "}"


def member_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class StoredRecord:
    """A record as stored in `bus.messages` (payload and headers as JSON text)."""

    seq: int
    topic: str
    key: str
    message_id: str
    payload: str
    headers: str
    published_at: datetime
    attempts: int  # deliveries made so far

    def record(self) -> Record:
        message = Message(
            self.topic,
            self.key,
            loads(self.payload),
            id=self.message_id,
            headers=loads(self.headers),
        )
        return Record(
            message, offset=self.seq, attempt=self.attempts + 1, published_at=self.published_at
        )


@dataclass(frozen=True)
class _RedriveRow(StoredRecord):
    id: int


@dataclass
class _PartitionBatch:
    partition: int
    from_xid: str
    from_seq: int
    attempts: int
    isolated: bool
    # The records delivered, and beside each (same index) its transaction id, what a commit or
    # a dead letter names: two lists rather than an object per row.
    records: list[Record] = field(default_factory=list)
    xids: list[str] = field(default_factory=list)
    # (xid, seq) of the window's last position when the kind filter left out what follows the
    # last item (or every row of the window): committing moves there.
    tail: tuple[str, int] | None = None
    # The kind filter's window was read to its end of `scan` positions: more may follow.
    more: bool = False


@dataclass
class _Fetched:
    batches: list[_PartitionBatch]
    stored: dict[int, Position]  # per partition read: its stored position then
    after: dict[int, Position]  # per partition read: the position its records follow


@dataclass
class _Prefetch:
    """The next batch, read while the current one is written (`GroupMember._prefetch_after`)."""

    task: asyncio.Task[_Fetched]
    owned: frozenset[int]  # the member's partitions when it started
    ahead: _Ahead  # the batch being written, per partition


class BusHost(Protocol):
    """What a member uses of the `PostgresBus` that runs it (which imports this module)."""

    database: Database
    settings: BusSettings
    notifier: Notifier
    messages: MessageCache  # decoded once per process, shared by its groups
    runs: FetchedRuns  # positions read by one group, served to the process's others
    pacing: Pacing  # keeps the process's groups within reach of those two

    async def maybe_apply_retention(self) -> int: ...


class GroupMember:
    def __init__(self, bus: BusHost, consumer: Consumer) -> None:
        self.bus = bus
        self.consumer = consumer
        self.group = consumer.group
        self.topics = list(consumer.topics)
        self.settings = bus.settings
        self.member = member_id()
        self.owned: set[int] = set()
        self.members: list[str] = [self.member]
        self.delivery = BatchDelivery(consumer, self, self.settings)
        self.batch_size = self.delivery.batch_size
        self._batches: dict[int, _PartitionBatch] = {}
        self._topics = tuple(self.topics)
        # Per partition, the position this member last read or committed there: what it asks
        # `bus.runs` for (PostgreSQL checks it is still the stored one before it is used).
        self._at: dict[int, Position] = {}
        self._next_rebalance = 0.0
        self._moved = asyncio.Event()  # another member asked the group to rebalance now
        self._asked = False  # this member asked for its missing share (once until it has it)
        self._next_retention = 0.0
        self._next_redrive = 0.0
        self._closing = False
        self._prefetch: _Prefetch | None = None
        self._short = False  # the last delivery filled no partition's share (a trickle)
        self._passing = False  # the last filtered window of a partition was full, none taken

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        while True:  # the database may still be starting (or be away): wait for it
            try:
                await self._register()
                break
            except (DatabaseUnavailable, psycopg.OperationalError) as exc:
                _log.warning("bus_database_unavailable", group=self.group, error=str(exc))
                await wait_any(stop, None, self.settings.poll_interval_seconds)
                if stop.is_set():
                    return
        wake = self.bus.notifier.subscribe([*self.topics, self._moves_topic])
        moved = self.bus.notifier.subscribe([self._moves_topic])
        self._moved = moved
        beat = asyncio.create_task(self._heartbeats(stop), name=f"bus-heartbeat:{self.group}")
        quick = 0.0
        try:
            while not stop.is_set():
                try:
                    await self._housekeeping()
                    did = await self.cycle()
                except (DatabaseUnavailable, psycopg.OperationalError) as exc:
                    _log.warning("bus_database_unavailable", group=self.group, error=str(exc))
                    await wait_any(stop, None, self.settings.poll_interval_seconds)
                    continue
                if did:
                    quick = _QUICK_POLL_S
                    if self._short and self.settings.linger_seconds:
                        # a trickle: let more arrive than the next read would find now
                        await wait_any(stop, None, self.settings.linger_seconds)
                    else:
                        await self._pace(stop)
                    continue
                woke = await wait_any(stop, wake, quick or self.settings.poll_interval_seconds)
                wake.clear()
                if woke:
                    quick = _QUICK_POLL_S  # a commit may still wait for an older transaction
                elif quick:
                    quick = quick * 2 if quick * 2 < self.settings.poll_interval_seconds else 0.0
        finally:
            self._closing = True  # ends the heartbeats even if a library call swallows the cancel
            beat.cancel()
            await asyncio.wait({beat}, timeout=self.settings.lease_seconds)
            await self.bus.notifier.unsubscribe(wake)
            await self.bus.notifier.unsubscribe(moved)
            await self._leave()

    async def _register(self) -> None:
        params = {
            "group": self.group,
            "topics": self.topics,
            "partitions": self.settings.partitions,
        }
        async with self.bus.database.connection() as conn, conn.transaction():
            await conn.execute(q("register_group"), params)
            await conn.execute(q("create_offsets"), params)

    async def _pace(self, stop: asyncio.Event) -> None:
        """Before the next read, a short wait while this member is far ahead of another group
        of the process on the same topics (`pacing.py`); a yield to the loop in any case."""
        pacing = self.bus.pacing
        until = time.monotonic() + pacing.max_wait
        while not stop.is_set() and pacing.ahead(self.member) and time.monotonic() < until:
            await wait_any(stop, None, pacing.step)
        await asyncio.sleep(0)

    async def _leave(self) -> None:
        self.bus.pacing.left(self.member)
        await self._drop_prefetch()
        try:
            async with self.bus.database.connection() as conn:
                await conn.execute(q("leave"), {"group": self.group, "member": self.member})
                await conn.execute(q("members_moved"), {"topic": self._moves_topic})
        except (DatabaseUnavailable, psycopg.Error) as exc:
            _log.warning("bus_leave_failed", group=self.group, error=type(exc).__name__)
        self.owned.clear()
        metrics.PARTITIONS_OWNED.labels(self.group).set(0)

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        """Renew the leases while the handler works, however long a batch takes."""
        every = self.settings.lease_seconds / 3
        while not stop.is_set() and not self._closing:
            try:
                await self.heartbeat()
            except (DatabaseUnavailable, psycopg.Error) as exc:
                _log.warning("bus_heartbeat_failed", group=self.group, error=type(exc).__name__)
            await wait_any(stop, None, every)

    async def heartbeat(self) -> set[int]:
        """Renew this member's leases; return the partitions it still holds."""
        async with self.bus.database.connection(autocommit=True) as conn:  # one statement
            params = {
                "group": self.group,
                "member": self.member,
                "lease": self.settings.lease_seconds,
            }
            row = await fetch_one(conn, q("heartbeat"), params, dict_row)
        assert row is not None
        self.members = list(row["members"])
        return {int(p) for p in row["partitions"]}

    @property
    def _moves_topic(self) -> str:
        return f"{MOVES_TOPIC}:{self.group}"

    async def rebalance(self) -> None:
        """Move towards this member's fair share (bus/assignment.py): release the surplus, or
        claim free partitions. Runs between batches, so no partition is given up mid-batch.

        A member that released partitions, or that joined short of its share, tells the group
        at once (a notification on the bus channel): the others rebalance between their next
        batches instead of at their next heartbeat, so a newcomer is working within a batch,
        not a third of a lease later."""
        # Only here does `owned` change: leases lost meanwhile (to a takeover) drop out.
        self.owned = await self.heartbeat()
        share = assignment.target(self.members, self.member, self.settings.partitions)
        move = assignment.step(self.owned, share)
        params: dict[str, Any] = {
            "group": self.group,
            "member": self.member,
            "lease": self.settings.lease_seconds,
        }
        if move.release or move.claim:
            async with self.bus.database.connection() as conn:
                if move.release:
                    await conn.execute(q("release"), {**params, "partitions": list(move.release)})
                    self.owned -= set(move.release)
                else:
                    claim = {**params, "count": move.claim}
                    self.owned |= set(await fetch_all(conn, q("claim"), claim, scalar_row))
                short = len(self.owned) < share
                if move.release or (short and not self._asked):
                    await conn.execute(q("members_moved"), {"topic": self._moves_topic})
                self._asked = short
        metrics.PARTITIONS_OWNED.labels(self.group).set(len(self.owned))

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        if self._moved.is_set():
            self._moved.clear()
            self._next_rebalance = now
        if now >= self._next_rebalance:
            self._next_rebalance = now + self.settings.lease_seconds / 3
            await self.rebalance()
        if now >= self._next_retention:
            self._next_retention = now + _RETENTION_CHECK_EVERY_S
            await self.bus.maybe_apply_retention()
        if now >= self._next_redrive:
            self._next_redrive = now + _REDRIVE_EVERY_S
            await self.redrive()

    # -- delivery --------------------------------------------------------------------------

    async def cycle(self) -> bool:
        """Deliver what is ready on the leased partitions; True when anything was delivered."""
        if not self.owned:
            await self._drop_prefetch()
            return False
        batches = await self._prefetched()
        if batches is None:
            fetched = await self._fetch(self.owned, {})
            self._at.update(fetched.stored)
            batches = fetched.batches
        self._batches = {b.partition: b for b in batches}
        if not self._batches:
            self._passing = False
            return False
        taken = [b for b in self._batches.values() if b.records]
        share = self._per_partition(len(self.owned))
        # Short (a trickle: linger before the next read) unless a partition filled its share,
        # or its filtered window was full: a long run of kinds the group leaves out is passed
        # window after window, not one window per linger.
        self._short = all(len(b.records) < share for b in taken) and not any(
            b.more for b in self._batches.values()
        )
        self._passing = any(b.more and not b.records for b in self._batches.values())
        self._prefetch = self._prefetch_after(taken)
        try:
            await self.delivery.deliver(
                {b.partition: b.records for b in taken if not b.isolated},
                {b.partition: b.records[0] for b in taken if b.isolated},
                [b.partition for b in self._batches.values() if not b.records],
            )
        except BaseException:
            await self._drop_prefetch()
            raise
        if kinds_of(self.consumer) is None:  # a filtered group reads windows, not the caches
            through = {b.partition: b.records[-1].offset for b in taken}
            self.bus.pacing.delivered(self.member, self.group, self._topics, self.owned, through)
        return True

    def _per_partition(self, owned: int) -> int:
        return max(1, math.ceil(self.batch_size / max(owned, 1)))

    def _prefetch_after(self, taken: list[_PartitionBatch]) -> _Prefetch | None:
        """Start reading the next batch while `taken` is written: only in a backlog (a
        partition filled its share) and in normal flow (no retry or isolation pending)."""
        if not self.settings.prefetch or not taken or kinds_of(self.consumer) is not None:
            return None
        if self._short or any(b.isolated or b.attempts for b in taken):
            return None
        ahead = {
            b.partition: ((b.from_xid, b.from_seq), (b.xids[-1], b.records[-1].offset))
            for b in taken
        }
        owned = frozenset(self.owned)
        task = asyncio.create_task(self._fetch(owned, ahead), name=f"bus-prefetch:{self.group}")
        return _Prefetch(task, owned, ahead)

    async def _prefetched(self) -> list[_PartitionBatch] | None:
        """The batch read while the last one was written, if that one committed every partition
        through its last record and the member's partitions are the same; None: read afresh."""
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is None:
            return None
        task = prefetch.task
        try:
            await asyncio.wait({task})
        except BaseException:  # this cycle is cancelled: so is its read
            task.cancel()
            raise
        # a failed (or, from inside, cancelled) early read: the fresh read meets the same
        # trouble, if it lasts, and the member's loop handles it as always
        if task.cancelled() or task.exception() is not None:
            failure = "cancelled" if task.cancelled() else type(task.exception()).__name__
            _log.debug("bus_prefetch_failed", group=self.group, error=failure)
            return None
        fetched = task.result()
        if prefetch.owned != self.owned:
            return None  # a rebalance ran meanwhile
        if any(self._at.get(p) != end for p, (_, end) in prefetch.ahead.items()):
            return None  # a failed write, a lost lease or a replay: not committed in full
        for b in fetched.batches:
            ahead = prefetch.ahead.get(b.partition)
            if ahead is None:
                continue
            if fetched.after.get(b.partition) != ahead[1]:
                return None  # read from elsewhere (the stored position had moved)
            # what the commit of the batch left there (it was in normal flow: no retry state)
            b.from_xid, b.from_seq = ahead[1]
            b.attempts, b.isolated = 0, False
        for p, stored in fetched.stored.items():
            if p not in prefetch.ahead:
                self._at[p] = stored
        return fetched.batches or None

    async def _drop_prefetch(self) -> None:
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is None:
            return
        task = prefetch.task
        task.cancel()
        await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved: a failed read of a dropped batch is no news

    async def _fetch(self, owned: Set[int], ahead: _Ahead) -> _Fetched:
        """The next records of the leased partitions. Positions first (those another group of
        this process read lately come from `bus.runs`); then the messages this process has not
        decoded yet (every group of a worker reads the same messages: the first to fetch one
        decodes it, the others take it from `bus.messages`, and their fetch carries no payload
        at all). `ahead`: partitions to read after the batch being written there (prefetch).
        Changes nothing in the member: the caller takes the stored positions."""
        per_partition = self._per_partition(len(owned))
        kinds = kinds_of(self.consumer)
        # Autocommit: each statement is its own snapshot (the positions' horizon is taken in
        # the first), and a lone read needs no BEGIN/COMMIT round trips.
        async with self.bus.database.connection(autocommit=True) as conn:
            cur = conn.cursor()
            ends: list[tuple[_Header, Position, bool]] = []
            stored: dict[int, Position] = {}
            after: dict[int, Position] = {}
            if kinds is None:
                reads = await self._read_positions(cur, owned, per_partition, ahead, stored, after)
            else:
                reads, ends = await self._read_kinds(cur, kinds, per_partition)
            known = await self._messages(cur, reads)
        batches: dict[int, _PartitionBatch] = {}
        for header, tail, more in ends:  # a window's end left out by the filter (after its items)
            batches[header[0]] = _PartitionBatch(*header, tail=tail, more=more)
        for header, rows in reads:
            batch = batches.get(header[0]) or batches.setdefault(
                header[0], _PartitionBatch(*header)
            )
            attempt = batch.attempts + 1
            records, xids = batch.records, batch.xids
            for xid, seq, _, published_at in rows:
                message = known[seq]
                if message is None:
                    continue  # erased since the positions were read (bus/erasure.py): a gap
                records.append(Record(message, seq, attempt, published_at))
                xids.append(xid)
        return _Fetched(
            [b for b in batches.values() if b.records or b.tail is not None], stored, after
        )

    async def _read_positions(
        self,
        cur: AsyncCursor[Any],
        owned: Set[int],
        per_partition: int,
        ahead: _Ahead,
        stored: dict[int, Position],
        after: dict[int, Position],
    ) -> list[_Read]:
        """Per partition, the next positions: first those another group of the process read
        lately past this member's position (`bus.runs`), then what follows them from
        `bus.messages` (noted in the runs for the others). Fills `stored` (each partition's
        stored position) and `after` (the position its rows follow)."""
        runs = self.bus.runs
        # (the stored position expected, the position to read after, the rows held after it)
        asked: dict[int, tuple[Position, Position, list[Row]]] = {}
        for p in owned:
            expected = start = self._at.get(p)
            if p in ahead:
                expected, start = ahead[p]
            if expected is None or start is None:
                continue
            rows = runs.after((self._topics, p), start, per_partition)
            if rows or p in ahead:
                asked[p] = (expected, start, rows)
        lasts = [rows[-1][:2] if rows else start for _, start, rows in asked.values()]
        await cur.execute(
            q("fetch"),
            {
                "group": self.group,
                "member": self.member,
                "topics": self.topics,
                "limit": per_partition,
                "held_partitions": list(asked),
                "held_xids": [expected[0] for expected, _, _ in asked.values()],
                "held_seqs": [expected[1] for expected, _, _ in asked.values()],
                "held_last_xids": [last[0] for last in lasts],
                "held_last_seqs": [last[1] for last in lasts],
                "held_more": [per_partition - len(rows) for _, _, rows in asked.values()],
            },
        )
        reads: list[_Read] = []
        for (
            p,
            from_xid,
            from_seq,
            attempts,
            isolated,
            was_held,
            xids,
            seqs,
            ids,
            ats,
        ) in await cur.fetchall():
            start = stored[p] = (from_xid, from_seq)
            read: list[Row] = [] if seqs is None else list(zip(xids, seqs, ids, ats, strict=True))
            if was_held:  # read after the rows held (PostgreSQL found the expected position)
                _, start, before = asked[p]
                runs.note((self._topics, p), before[-1][:2] if before else start, read)
                rows = before + read if read else before
            else:
                runs.note((self._topics, p), start, read)
                rows = read
            after[p] = start
            reads.append(
                ((p, from_xid, from_seq, attempts, isolated), rows[:1] if isolated else rows)
            )
        return reads

    async def _read_kinds(
        self, cur: AsyncCursor[Any], kinds: KindFilter, per_partition: int
    ) -> tuple[list[_Read], list[tuple[_Header, Position, bool]]]:
        """`fetch_kinds`: per partition, the positions the filter takes, and the window's end
        when what follows them was left out (with whether the window was full)."""
        params: dict[str, Any] = {
            "group": self.group,
            "member": self.member,
            "topics": self.topics,
            "limit": per_partition,
            "scan": per_partition * (_PASSING_SCAN_FACTOR if self._passing else _SCAN_FACTOR),
            **kind_params(kinds),
        }
        await cur.execute(q("fetch_kinds"), params)
        reads: dict[int, _Read] = {}
        ends: list[tuple[_Header, Position, bool]] = []
        for (
            p,
            from_xid,
            from_seq,
            attempts,
            isolated,
            seq,
            xid,
            mid,
            at,
            wanted,
            full,
        ) in await cur.fetchall():
            header = (p, from_xid, from_seq, attempts, isolated)
            if not wanted:
                ends.append((header, (xid, seq), full))
                continue
            read = reads.get(p)
            if read is None:
                read = reads[p] = (header, [])
            read[1].append((xid, seq, mid, at))
        return list(reads.values()), ends

    async def _messages(
        self, cur: AsyncCursor[Any], reads: list[_Read]
    ) -> dict[int, Message | None]:
        """The message at each position read: decoded by this process already, else read."""
        decoded = self.bus.messages
        ids = {seq: mid for _, rows in reads for _, seq, mid, _ in rows}
        known = {seq: decoded.get(seq, mid) for seq, mid in ids.items()}
        missing = [seq for seq, message in known.items() if message is None]
        if not missing:
            return known
        mine, others = decoded.claim(missing)  # another group may be reading some already
        try:
            await self._read_messages(cur, mine, known)
        finally:
            decoded.release(mine)
        if others:
            await asyncio.wait(others)
            claimed = set(mine)
            late = [seq for seq in missing if known[seq] is None and seq not in claimed]
            for seq in late:
                known[seq] = decoded.get(seq, ids[seq])
            # not brought (evicted meanwhile, erased, or that read failed): read them here
            await self._read_messages(cur, [seq for seq in late if known[seq] is None], known)
        return known

    async def _read_messages(
        self, cur: AsyncCursor[Any], seqs: list[int], known: dict[int, Message | None]
    ) -> None:
        if not seqs:
            return
        decoded = self.bus.messages
        await cur.execute(q("fetch_messages"), {"seqs": bigint_array(seqs)})
        for seq, topic, key, message_id, payload, headers in await cur.fetchall():
            known[seq] = decoded.message(seq, topic, key, message_id, payload, headers)

    # -- delivery.Positions: compare-and-set on the positions this cycle read ---------------

    def _fetched(self, partition: int, record: Record) -> tuple[_PartitionBatch, int]:
        """The batch of `record` and its index there (mostly the last: searched from the end)."""
        batch = self._batches[partition]
        records = batch.records
        offset = record.offset
        return batch, next(
            i for i in range(len(records) - 1, -1, -1) if records[i].offset == offset
        )

    async def advance(self, through: Mapping[int, Record]) -> None:
        done: list[tuple[_PartitionBatch, tuple[str, int]]] = []
        for p, r in through.items():
            batch, i = self._fetched(p, r)
            if batch.tail is not None and i == len(batch.records) - 1:
                done.append((batch, batch.tail))  # what the window held after it was left out
            else:
                done.append((batch, (batch.xids[i], r.offset)))
        await self._commit(done)

    async def pass_over(self, partitions: Sequence[int]) -> None:
        done: list[tuple[_PartitionBatch, tuple[str, int]]] = []
        for p in partitions:
            batch = self._batches[p]
            assert batch.tail is not None  # a window with no item ends in a row left out
            done.append((batch, batch.tail))
        await self._commit(done)

    async def _commit(self, done: list[tuple[_PartitionBatch, tuple[str, int]]]) -> None:
        through = {b.partition for b, _ in done}
        params = {
            "group": self.group,
            "member": self.member,
            "partitions": [b.partition for b, _ in done],
            "from_xids": [b.from_xid for b, _ in done],
            "from_seqs": [b.from_seq for b, _ in done],
            "xids": [xid for _, (xid, _) in done],
            "seqs": [seq for _, (_, seq) in done],
        }
        async with self.bus.database.connection(autocommit=True) as conn:  # one statement
            advanced = set(await fetch_all(conn, q("commit"), params, scalar_row))
        for batch, position in done:
            if batch.partition in advanced:
                self._at[batch.partition] = position
            else:
                self._at.pop(batch.partition, None)
        lost = set(through) - advanced
        if lost:
            # A replay moved the position, or the lease went to another member: it redelivers.
            _log.info("bus_commit_skipped", group=self.group, partitions=sorted(lost))

    async def hold(
        self, failed: Mapping[int, Record], error: BaseException, delay: float | None
    ) -> None:
        s = self.settings
        held = [self._fetched(p, r) for p, r in failed.items()]
        params = {
            "group": self.group,
            "member": self.member,
            "error": errors.describe(error),
            "partitions": [b.partition for b, _ in held],
            "from_xids": [b.from_xid for b, _ in held],
            "from_seqs": [b.from_seq for b, _ in held],
            "last_xids": [b.xids[i] for b, i in held],
            "last_seqs": [b.records[i].offset for b, i in held],
            "delays": [
                delay
                if delay is not None
                else errors.after_batch_failure(
                    error, b.attempts + 1, base=s.retry_base_seconds, cap=s.retry_max_seconds
                )
                for b, _ in held
            ],
        }
        async with self.bus.database.connection(autocommit=True) as conn:  # one statement
            await conn.execute(q("fail"), params)

    async def dead_letter(self, partition: int, record: Record, error: str) -> None:
        batch, i = self._fetched(partition, record)
        self._at.pop(partition, None)  # moved past it, or not (a lost lease): read anew
        message = record.message
        async with self.bus.database.connection(autocommit=True) as conn:  # one statement
            await conn.execute(
                q("dead_letter"),
                {
                    "group": self.group,
                    "member": self.member,
                    "partition": partition,
                    "from_xid": batch.from_xid,
                    "from_seq": batch.from_seq,
                    "xid": batch.xids[i],
                    "seq": record.offset,
                    "topic": message.topic,
                    "key": message.key,
                    "message_id": message.id,
                    "payload": dumps(message.payload),
                    "headers": dumps(message.headers),
                    "published_at": record.published_at,
                    "attempts": record.attempt,
                    "error": error,
                },
            )

    async def redrive(self) -> int:
        """Deliver the dead letters an operator asked to re-drive (on our partitions)."""
        if not self.owned:
            return 0
        async with self.bus.database.connection() as conn:
            params = {"group": self.group, "member": self.member, "limit": 100}
            rows = await fetch_all(conn, q("redrive_pending"), params, class_row(_RedriveRow))
        done = 0
        for row in rows:
            error = await self.delivery.handle([row.record()])
            async with self.bus.database.connection() as conn:
                if error is None:
                    await conn.execute(q("redrive_done"), {"id": row.id})
                    metrics.HANDLED.labels(self.group, "redriven").inc()
                    done += 1
                else:
                    await conn.execute(
                        q("redrive_failed"), {"id": row.id, "error": errors.describe(error)}
                    )
                    metrics.HANDLED.labels(self.group, "dead_letter").inc()
        return done
