"""The database deadline's interrupter: it cancels the request's task at the deadline and again
until released, and a released one leaves nothing for the garbage collector (a reference cycle
per request made the API processes' young collections take tens of ms)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Any

import pytest
import uvloop

from caudal.platform.db.pool import _Interrupter


async def test_it_interrupts_at_the_deadline_and_again_until_released() -> None:
    loop = asyncio.get_running_loop()
    interrupter: _Interrupter | None = None
    cancelled = 0

    async def stubborn() -> None:  # swallows cancellations, as a library call may
        nonlocal cancelled, interrupter
        task = asyncio.current_task()
        assert task is not None
        interrupter = _Interrupter(task, loop.time() + 0.02)
        while cancelled < 3:
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                cancelled += 1
        interrupter.release()

    await asyncio.wait_for(stubborn(), 2)
    assert interrupter is not None and interrupter.count == 3
    await asyncio.sleep(0.12)  # released: no further interruption
    assert interrupter.count == 3


@pytest.mark.parametrize("new_loop", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_a_released_interrupter_leaves_no_cycle(new_loop: Callable[[], Any]) -> None:
    """On asyncio's loop and on uvloop (what uvicorn runs the API on)."""

    async def many() -> list[object]:
        task = asyncio.current_task()
        assert task is not None
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(100):
                _Interrupter(task, task.get_loop().time() + 60).release()
            gc.collect()
            return list(gc.garbage)
        finally:
            gc.garbage.clear()
            gc.set_debug(0)
            gc.enable()

    loop = new_loop()
    try:
        assert loop.run_until_complete(many()) == []
    finally:
        loop.close()
