"""The router's sink consumers on the in-memory bus: routing, a transient sink failure retried,
a poison event dead-lettered, with no database and no network."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from caudal.bus.memory import MemoryBus
from caudal.events.intake import to_message
from caudal.events.model import CanonicalEvent
from caudal.events.router.consumer import SinkConsumer
from caudal.events.router.table import Routes
from tests.support.bus import consuming, fast_bus_settings, until


class FlakySink:
    """A sink that refuses its first write (a receiver briefly down)."""

    def __init__(self, name: str, failures: int = 0) -> None:
        self.name = name
        self.failures = failures
        self.written: list[CanonicalEvent] = []

    async def write(self, events: Sequence[CanonicalEvent]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("sink down")
        self.written.extend(events)


def event(type_: str, source: str = "frontend") -> CanonicalEvent:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return CanonicalEvent(source, type_, "1", now, now, {"n": 1}, device={"platform": "iOS"})


async def test_sinks_receive_their_routed_events_retried_and_poison_dead_lettered() -> None:
    bus = MemoryBus(fast_bus_settings())
    routes = Routes(None, {"lake", "realtime", "customers.activity", "webhook"})
    lake, webhook = FlakySink("lake", failures=1), FlakySink("webhook")
    click, posted = event("click_button_help"), event("ledger.posted", "ledger")
    poison = to_message(event("click_button_help"))
    poison = type(poison)(poison.topic, poison.key, {"not": "an event"}, id="poison")
    async with consuming(bus, SinkConsumer(lake, routes), SinkConsumer(webhook, routes)):
        await bus.publish([to_message(click), to_message(posted), poison])
        await until(lambda: len(lake.written) == 2 and len(webhook.written) == 1, seconds=10)
        await until(lambda: len(bus._dead) == 2, seconds=10, what="the poison, once per group")
    # Both, after one transient failure (their keys may sit in different partitions: any order).
    assert sorted(e.id for e in lake.written) == sorted([click.id, posted.id])
    assert [e.id for e in webhook.written] == [posted.id]  # only what the routes send it
    letters = await bus.dead_letters()
    assert {(d.group, d.message.id) for d in letters} == {("lake", "poison"), ("webhook", "poison")}
