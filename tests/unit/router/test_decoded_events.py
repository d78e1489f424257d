"""The lake and realtime groups of one process decode each message's event once."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from caudal.events.model import CanonicalEvent
from caudal.events.router.consumer import SinkConsumer
from caudal.events.router.decoded import DecodedEvents
from caudal.events.router.table import Routes
from caudal.platform.bus.model import Message, Record

AT = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@dataclasses.dataclass
class Kept:
    """A sink that keeps the event objects it is handed."""

    name: str
    events: list[CanonicalEvent] = dataclasses.field(default_factory=list)

    async def write(self, events: Sequence[CanonicalEvent]) -> None:
        self.events += events


def message(n: int) -> Message:
    event = CanonicalEvent("frontend", "click", "1.0", AT, AT, {"n": n}, id=f"e{n}")
    return event.to_message(f"k{n}")


async def test_the_groups_of_a_process_share_one_event_per_message() -> None:
    routes = Routes(None, {"lake", "realtime", "customers.activity", "webhook"})
    lake, realtime = Kept("lake"), Kept("realtime")
    records = [Record(message(n), n, 1, AT) for n in range(3)]
    await SinkConsumer(lake, routes).handle(records)
    await SinkConsumer(realtime, routes).handle(records)
    assert [e.id for e in realtime.events] == ["e0", "e1", "e2"]
    assert all(a is b for a, b in zip(lake.events, realtime.events, strict=True))


def test_an_equal_message_of_another_fetch_is_decoded_on_its_own() -> None:
    decoded = DecodedEvents()
    first = message(1)
    again = Message(first.topic, first.key, {**first.payload, "data": {"n": 2}}, id=first.id)
    assert decoded.event(first).data == {"n": 1}
    assert decoded.event(again).data == {"n": 2}
    assert decoded.event(first) is decoded.event(first)


def test_bounded_and_a_forgotten_message_is_decoded_again() -> None:
    decoded = DecodedEvents(capacity=4)
    messages = [message(n) for n in range(10)]
    events = [decoded.event(m) for m in messages]
    assert len(decoded) <= 4
    assert decoded.event(messages[-1]) is events[-1]  # recent: remembered
    again = decoded.event(messages[0])  # forgotten: decoded anew, equal
    assert again == events[0] and again is not events[0]


def test_a_payload_that_is_no_event_raises_and_is_not_remembered() -> None:
    decoded = DecodedEvents()
    bad = Message("events", "k", {"id": "x", "source": "frontend"})
    for _ in range(2):
        with pytest.raises(KeyError):
            decoded.event(bad)
    assert len(decoded) == 0
