"""Erasing the copies of an erased customer's events outside Base A, found by its CPF token:
realtime (`events.recent`; rollups hold no token), quarantine, the PostgreSQL
bus (messages and dead letters), and the lake's Parquet files (rewritten).

Run by the `customers.activity` sink when `customers.erased` arrives, and again by
`caudal customers reapply-erasures` after a backup restore. Every step is idempotent.

Behind the erasure barrier (`events/erasure_barrier.py`): the tokens are recorded first
(`bar`, its own short transaction, once the sink writes in flight have committed), then the
database copies are deleted, then the lake is scanned (`lake_erasure.erase`). From the
first step on no sink writes a copy of an event received before the erasure, whatever it had
fetched, held or gets redelivered.

An erasure counts from its own time (the notice's, or the log entry's), never from when it is
handled: handled first (asynchronously, maybe long after) or again (a replay of the group, a
redelivery, a re-applied log), it removes only the copies received before it (+ MARGIN, the set
the barrier drops: `Recorded.until`), so a customer registered again since with the same CPF
keeps theirs, even one registered before the erasure was first handled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from caudal.events.erasure_barrier_postgres import Recorded, bounds, until
from caudal.platform.db.pool import AsyncConn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DerivedCopies:
    lake_url: str
    bus_backend: str
    bus_partitions: int  # the lake writers' partition locks (`lake_erasure.erase`)

    async def bar(self, conn: AsyncConn, erasures: Mapping[str, datetime]) -> dict[str, Recorded]:
        """First, outside any transaction: no sink writes these tokens' events from before their
        erasure (token -> its time) again. What it returns bounds the deletes."""
        from caudal.events import erasure_barrier_postgres

        return await erasure_barrier_postgres.record(conn, erasures)

    async def erase_in_database(
        self, conn: AsyncConn, tokens: Mapping[str, Recorded]
    ) -> dict[str, int]:
        """The database copies, in the caller's transaction, after `bar` committed."""
        from caudal.bus import erasure as bus_erasure
        from caudal.events import erasure as events_erasure

        counts: dict[str, int] = {}
        if not tokens:
            return counts
        deletes = dict(events_erasure.DELETES)
        if self.bus_backend == "postgres":
            deletes |= bus_erasure.DELETES
        params = bounds(tokens)
        for name, sql in deletes.items():
            cur = await conn.execute(sql, params)
            counts[name] = cur.rowcount
        return counts

    async def erase_lake(self, conn: AsyncConn, tokens: Mapping[str, Recorded]) -> tuple[int, int]:
        """(rows removed, files rewritten) in the lake; after `erase_in_database` committed,
        on a connection outside any transaction."""
        from caudal.events import lake_erasure
        from caudal.events.lake_files import LakeFiles

        if not tokens:
            return 0, 0
        removed, rewritten = await lake_erasure.erase(
            conn, LakeFiles(self.lake_url), until(tokens), self.bus_partitions
        )
        if removed:
            log.info("erasure: %d lake row(s) removed, %d file(s) rewritten", removed, rewritten)
        return removed, rewritten
