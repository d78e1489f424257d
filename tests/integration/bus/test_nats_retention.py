"""Retention on the NATS bus: the stream's `max_age` is `CAUDAL_BUS__RETENTION_DAYS`, JetStream
deletes what is older (read or not, unlike PostgreSQL: docs/operations.md), and a process started
with another retention brings the existing stream up to date."""

from __future__ import annotations

import asyncio

import pytest

from caudal.bus.nats import NatsBus
from caudal.platform.bus.model import Message
from tests.support.bus_adapters import Adapter

SECONDS = 1.5


@pytest.mark.adapters("nats")
@pytest.mark.bus_settings(retention_days=SECONDS / 86400, nats_duplicate_window_seconds=1.0)
async def test_messages_older_than_the_retention_are_deleted_and_a_new_setting_applies(
    bus_adapter: Adapter,
) -> None:
    bus = bus_adapter.bus
    await bus.publish([Message("t", f"k{n}", {"n": n}) for n in range(3)])
    js = await bus.js()
    info = await js.stream_info(bus.names.stream)
    assert info.config.max_age == pytest.approx(SECONDS)
    assert info.state.messages == 3
    for _ in range(100):  # JetStream expires them within a moment of max_age
        await asyncio.sleep(0.1)
        if (await js.stream_info(bus.names.stream)).state.messages == 0:
            break
    assert (await js.stream_info(bus.names.stream)).state.messages == 0

    week = bus.settings.model_copy(update={"retention_days": 7.0})
    restarted = NatsBus(bus_adapter.database, week)  # e.g. a worker started with the new setting
    try:
        await restarted.publish([Message("t", "k", {"n": 3})])
        info = await (await restarted.js()).stream_info(bus.names.stream)
        assert info.config.max_age == 7 * 86400
        await asyncio.sleep(SECONDS + 0.5)
        assert info.state.messages == 1
        assert (await js.stream_info(bus.names.stream)).state.messages == 1  # kept now
    finally:
        await restarted.close()
