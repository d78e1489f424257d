"""Time as a port: domain logic that reads the time (token expiry, schedules, "today") asks a
`Clock`, so a test can set and move the time instead of sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""

    def time(self) -> float:
        """The current time in seconds since the epoch."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()


class FakeClock:
    """A clock that moves only when told (`advance`, `set`)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(UTC)).astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def time(self) -> float:
        return self._now.timestamp()

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def set(self, at: datetime) -> None:
        self._now = at.astimezone(UTC)


SYSTEM_CLOCK = SystemClock()
