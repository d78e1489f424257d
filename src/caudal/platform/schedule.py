"""The loops of background services: on a cron (nightly reconciliation, daily pipelines) or
every few seconds (lake flush, retention)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog
from croniter import croniter

_log = structlog.get_logger("caudal.schedule")


def next_fire(cron: str, after: datetime) -> datetime:
    fire: datetime = croniter(cron, after).get_next(datetime)
    return fire


async def run_on_cron(
    cron: str,
    stop: asyncio.Event,
    fire: Callable[[datetime], Awaitable[object]],
    *,
    now: Callable[[], datetime],
    max_sleep_s: float = 60.0,
    on_armed: Callable[[datetime], None] | None = None,
) -> None:
    """Call `fire(at)` at each fire time of `cron` until `stop` is set.

    Sleeps in slices of at most `max_sleep_s` so a changed clock or a stop is noticed promptly;
    a fire that runs past the next fire time is not repeated for the missed one.
    """
    at = next_fire(cron, now())
    if on_armed is not None:
        on_armed(at)
    while not stop.is_set():
        remaining = (at - now()).total_seconds()
        if remaining > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(remaining, max_sleep_s))
            continue
        await fire(at)
        at = next_fire(cron, max(at, now()))


async def run_every(
    seconds: float, stop: asyncio.Event, work: Callable[[], Awaitable[object]], failure: str
) -> None:
    """Call `work()` now and then every `seconds` until `stop` is set. A failure is logged as
    the event `failure` and the loop goes on: the next round retries."""
    while not stop.is_set():
        try:
            await work()
        except Exception:
            _log.exception(failure)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
