"""The bus port. Adapters: `bus/postgres.py` (default), `bus/nats.py` (scale-out).

Semantics every adapter keeps: durable once `publish` returns (or once the caller's transaction
commits, when a connection is given: the outbox); at-least-once delivery to every consumer group;
order kept per key; retries with backoff and a dead letter after N attempts; replay from an offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from caudal.bus.model import Message, Record


class Bus(Protocol):
    async def publish(self, messages: Sequence[Message], conn: Any = None) -> None:
        """Append messages. With `conn` (a psycopg AsyncConnection inside a transaction) the
        messages are written in that transaction, so a domain write and its events commit or
        roll back together."""


class Consumer(Protocol):
    """A consumer group's handler. The bus runtime tracks offsets, retries and dead letters."""

    group: str
    topics: tuple[str, ...]

    async def handle(self, records: Sequence[Record]) -> None:
        """Process a batch. Must be idempotent on `record.message.id`: a batch may be delivered
        again after a crash. Raise to have the batch retried with backoff."""
