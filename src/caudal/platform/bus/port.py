"""The bus port. Adapters: `bus/postgres.py` (default), `bus/nats.py` (scale-out),
`bus/memory.py` (tests).

Semantics every adapter keeps: durable once `publish` returns (or once the caller's transaction
commits, when a connection is given: the outbox); at-least-once delivery to every consumer group;
order kept per key; retries with backoff and a dead letter after N attempts (at once for a
permanent error: the policy is `bus/errors.py`); replay from an offset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from caudal.platform.bus.model import DeadLetter, GroupStatus, KindFilter, Message, Record
from caudal.platform.db.pool import AsyncConn, DatabaseUnavailable


class BusUnavailable(DatabaseUnavailable):
    """The bus's own server (NATS) cannot be reached: publishers answer 503 with Retry-After,
    exactly as when the database is down (nothing was stored)."""


class Bus(Protocol):
    async def publish(self, messages: Sequence[Message], conn: AsyncConn | None = None) -> None:
        """Append messages. With `conn` (a psycopg AsyncConnection inside a transaction) the
        messages are written in that transaction, so a domain write and its events commit or
        roll back together."""

    async def consume(self, consumer: Consumer, stop: asyncio.Event) -> None:
        """Deliver the consumer's topics to `consumer.handle` as this group's member until
        `stop` is set. Several processes may consume one group: they share its partitions."""


@runtime_checkable
class BusAdmin(Protocol):
    """Operations on consumer groups (`caudal bus ...`)."""

    async def status(self) -> list[GroupStatus]: ...

    async def replay(
        self, group: str, *, from_offset: int | None = None, since: datetime | None = None
    ) -> int:
        """Move the group back (or forward) to the first message at/after the offset or time;
        return how many messages it will (re)deliver."""

    async def dead_letters(self, group: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Dead letters not yet re-driven, oldest first."""

    async def redrive(self, group: str | None = None, ids: Sequence[int] = ()) -> int:
        """Ask the group's workers to deliver these dead letters again; return how many."""

    async def drop_group(self, group: str) -> bool:
        """Forget a group that no longer runs; False when there was none."""


class Consumer(Protocol):
    """A consumer group's handler. The bus runtime tracks offsets, retries and dead letters."""

    group: str
    topics: tuple[str, ...]

    async def handle(self, records: Sequence[Record]) -> None:
        """Process a batch. Must be idempotent on `record.message.id`: a batch may be delivered
        again after a crash. Raise to refuse the batch: its records are then delivered one at a
        time (`record.attempt` counts deliveries, from 1) until the failing one succeeds or goes
        to the dead letters, at once when its error is permanent (a data error, which would
        recur), after `max_attempts` with backoff otherwise (every adapter applies
        `bus.errors.after_failure`). A consumer may set `batch_size` (an int) to change the
        largest batch; a new group starts from the oldest retained message."""


@runtime_checkable
class Lingering(Protocol):
    """A consumer (or sink) that may hold a delivery to gather more before writing it (the
    lake). Its worker calls `hurry` when the process starts stopping, so a graceful stop
    writes what is held at once instead of waiting out the linger."""

    def hurry(self) -> None: ...


@runtime_checkable
class Filtering(Protocol):
    """A consumer that can tell from a message's kind alone that it will not take it. The bus
    asks before each fetch (the answer may change: routes are re-read); None takes everything.
    An adapter that honours the filter neither delivers nor decodes what it skips, and commits
    the group's position past it, so a skipped message is not lag; one that does not delivers
    everything (`KindFilter`)."""

    def kinds(self) -> KindFilter | None: ...
