"""The outbox relay of the NATS bus: committed `bus.outbox` rows to JetStream, in order, once.

Rows are read like the PostgreSQL bus reads its log: in (xid, seq) order and only below the
snapshot horizon `pg_snapshot_xmin(pg_current_snapshot())`, so a transaction that took its ids
early and commits late is never overtaken: per key, JetStream receives messages in the order
the PostgreSQL bus would deliver them. Each batch is forwarded and deleted in one transaction that
holds an advisory lock (one relay at a time per database; the others stand by). A relay killed
after JetStream stored a batch but before the delete committed sends it again on restart, and
JetStream drops the repeated ids (`Nats-Msg-Id`, within the duplicate window,
`CAUDAL_BUS__NATS_DUPLICATE_WINDOW_SECONDS`): each id reaches the stream exactly once.
"""

from __future__ import annotations

import asyncio

import psycopg
import structlog

from caudal.bus.delivery import wait_any
from caudal.bus.nats_codec import envelope
from caudal.bus.nats_connection import NatsConnection
from caudal.bus.notify import Notifier
from caudal.platform.bus.port import BusUnavailable
from caudal.platform.db.pool import Database, DatabaseUnavailable

_log = structlog.get_logger("caudal.bus")

_RELAY_LOCK = 0x6361756472  # one relay at a time per database
_BATCH = 1000
_QUICK_POLL_S = 0.02

_READ = """
SELECT seq, message_id, topic, key, payload::text, headers::text
FROM bus.outbox
WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY xid, seq
LIMIT %(limit)s
"""
_DELETE = "DELETE FROM bus.outbox WHERE seq = ANY(%(seqs)s)"


class OutboxRelay:
    def __init__(self, nats: NatsConnection, database: Database, notifier: Notifier) -> None:
        self.nats = nats
        self.database = database
        self.notifier = notifier
        self.poll_s = nats.settings.poll_interval_seconds

    async def run(self, stop: asyncio.Event) -> None:
        wake = self.notifier.subscribe(["outbox"])
        quick = 0.0
        try:
            while not stop.is_set():
                try:
                    moved = await self.forward()
                except (DatabaseUnavailable, BusUnavailable, psycopg.Error) as exc:
                    _log.warning("bus_relay_waiting", error=str(exc)[:200])
                    await wait_any(stop, asyncio.Event(), self.poll_s)
                    continue
                if moved:
                    quick = _QUICK_POLL_S
                    continue
                await wait_any(stop, wake, quick or self.poll_s)
                if wake.is_set():
                    quick = _QUICK_POLL_S  # a commit may still wait for an older transaction
                elif quick:
                    quick = quick * 2 if quick * 2 < self.poll_s else 0.0
                wake.clear()
        finally:
            await self.notifier.unsubscribe(wake)

    async def forward(self) -> int:
        """Forward one batch of committed rows; return how many (0: none, or another relay)."""
        async with self.database.connection() as conn, conn.transaction():
            cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_RELAY_LOCK,))
            row = await cur.fetchone()
            if not row or not row[0]:
                return 0
            cur = await conn.execute(_READ, {"limit": _BATCH})
            rows = await cur.fetchall()
            if not rows:
                return 0
            await self.nats.send(
                [(mid, topic, key, envelope(topic, key, p, h)) for _, mid, topic, key, p, h in rows]
            )
            await conn.execute(_DELETE, {"seqs": [r[0] for r in rows]})
        return len(rows)
