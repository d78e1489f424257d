"""The daily schedule: a `Service` (role "scheduler") run by `caudal up` and `caudal scheduler`.

At each fire time of CAUDAL_PIPELINES__USER_CARTS_CRON (UTC) it runs user-carts for the day
before the fire time (the last complete day). Any number of schedulers may run: the runner's
lock and the one-scheduled-run-per-date index let exactly one of them run each date.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import structlog

from caudal.pipelines.model import USER_CARTS, RunRequest
from caudal.pipelines.runner import Runner
from caudal.pipelines.runs import RunRecord
from caudal.platform.clock import SYSTEM_CLOCK, Clock
from caudal.platform.errors import CaudalError
from caudal.platform.schedule import run_on_cron

_log = structlog.get_logger("caudal.pipelines.scheduler")


class UserCartsScheduler:
    name = "pipelines.user-carts"
    role = "scheduler"
    group: str | None = None

    def __init__(
        self,
        runner: Runner,
        cron: str,
        source: str,
        clock: Clock = SYSTEM_CLOCK,
        max_sleep_s: float = 60.0,
    ) -> None:
        self.runner = runner
        self.cron = cron
        self.source = source
        self.clock = clock
        self.max_sleep_s = max_sleep_s

    async def run(self, stop: asyncio.Event) -> None:
        await run_on_cron(
            self.cron,
            stop,
            self.fire,
            now=self.clock.now,
            max_sleep_s=self.max_sleep_s,
            on_armed=lambda at: _log.info(
                "schedule_armed", pipeline=USER_CARTS, next_run=at.isoformat()
            ),
        )

    async def fire(self, at: datetime) -> RunRecord | None:
        """The scheduled run for the day before `at`; None if another scheduler has it."""
        run_date = (at.astimezone(UTC) - timedelta(days=1)).date()
        request = RunRequest(
            run_date=run_date,
            source="lake" if self.source == "lake" else "fakestore",
            trigger="schedule",
            requested_by="scheduler",
        )
        try:
            record = await self.runner.run(request)
        except CaudalError as exc:  # another process is running this date right now
            _log.info("schedule_skipped", run_date=run_date.isoformat(), reason=exc.code)
            return None
        if record is None:
            _log.info("schedule_skipped", run_date=run_date.isoformat(), reason="already run")
        return record
