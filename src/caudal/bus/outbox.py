"""The backlog of the transactional outbox (NATS bus): rows committed in `bus.outbox` that the
relay has not forwarded to JetStream yet. It grows while NATS is away or no worker runs the
relay (the relay runs beside the consumers, in `caudal worker` / `caudal up`); the messages are
safe in PostgreSQL meanwhile, but nobody receives them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from caudal.bus import metrics
from caudal.platform.db.pool import Database

_BACKLOG = """
SELECT count(*), min(published_at),
       coalesce(extract(epoch FROM clock_timestamp() - min(published_at)), 0)::float8
FROM bus.outbox
"""


@dataclass(frozen=True)
class Backlog:
    messages: int
    oldest_at: datetime | None  # when the oldest waiting message was published
    oldest_age_s: float = 0.0  # its age by the database's clock


@runtime_checkable
class HasOutbox(Protocol):
    """A bus with a transactional outbox in front of its log."""

    async def outbox_backlog(self) -> Backlog: ...


async def read_backlog(database: Database) -> Backlog:
    async with database.connection() as conn:
        cur = await conn.execute(_BACKLOG)
        row = await cur.fetchone()
    return Backlog(int(row[0]), row[1], max(float(row[2]), 0.0)) if row else Backlog(0, None)


def export(backlog: Backlog) -> None:
    """Into `caudal_bus_outbox_messages` and `caudal_bus_outbox_oldest_age_seconds`."""
    metrics.OUTBOX_MESSAGES.set(backlog.messages)
    metrics.OUTBOX_OLDEST_AGE.set(backlog.oldest_age_s)
