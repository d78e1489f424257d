"""The nightly reconciliation: a `Service` (role "scheduler") run by `caudal up` and
`caudal scheduler`. With several schedulers, an advisory lock lets one of them run each time."""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog

from caudal.ledger.reconcile import Reconciler, Report
from caudal.platform.clock import SYSTEM_CLOCK, Clock
from caudal.platform.db.pool import Database
from caudal.platform.db.rows import fetch_value
from caudal.platform.schedule import run_on_cron

_log = structlog.get_logger("caudal.ledger.scheduler")
_LOCK_KEY = 0x6C6564676572  # "ledger"


class ReconcileScheduler:
    name = "ledger.reconcile"
    role = "scheduler"
    group: str | None = None

    def __init__(
        self,
        database: Database,
        cron: str,
        clock: Clock = SYSTEM_CLOCK,
        max_sleep_s: float = 60.0,
    ) -> None:
        self.database = database
        self.cron = cron
        self.clock = clock
        self.max_sleep_s = max_sleep_s

    async def run(self, stop: asyncio.Event) -> None:
        async def fire_at(_: datetime) -> None:
            await self.fire()

        await run_on_cron(
            self.cron,
            stop,
            fire_at,
            now=self.clock.now,
            max_sleep_s=self.max_sleep_s,
            on_armed=lambda at: _log.info("ledger_reconcile_armed", next_run=at.isoformat()),
        )

    async def fire(self) -> Report | None:
        """Reconcile every balance (report only: fixing is an operator's decision)."""
        async with self.database.connection() as conn:
            if not await fetch_value(conn, "SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)):
                _log.info("ledger_reconcile_skipped", reason="another scheduler runs it")
                return None
            try:
                report = await Reconciler(self.database).run()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        log = _log.warning if report.differences else _log.info
        log(
            "ledger_reconciled",
            differences=len(report.differences),
            run_id=report.run_id,
        )
        return report
