"""A step that runs in a worker thread, held at its start until the test lets it go: to cancel
the task awaiting it mid-step, and see what the task still holds while the thread runs on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from typing import Any

import psycopg
import pytest

from tests.support.bus import until


class HeldStep:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
        self.entered, self.go = threading.Event(), threading.Event()
        step = getattr(owner, name)

        def held(*args: Any) -> Any:
            self.entered.set()
            self.go.wait(20)
            return step(*args)

        monkeypatch.setattr(owner, name, held)

    async def cancel_inside(self, task: asyncio.Task[Any], what: str) -> None:
        """Cancel `task` once its step has started; the step's thread stays held."""
        await until(self.entered.is_set, what=what)
        task.cancel()
        await asyncio.wait({task}, timeout=1)

    async def release(self, task: Awaitable[Any]) -> None:
        self.go.set()
        await asyncio.wait({asyncio.ensure_future(task)}, timeout=20)


def advisory_granted(url: str, condition: str, params: tuple[Any, ...]) -> int:
    """Advisory locks granted that match `condition` (on pg_locks' classid/objid/objsubid)."""
    with psycopg.connect(url, autocommit=True) as conn:
        sql = (
            f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND {condition}"
        )
        row = conn.execute(sql, params).fetchone()
    return int(row[0]) if row else 0
