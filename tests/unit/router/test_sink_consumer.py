"""The sink consumer decides by kind when the routes allow it, and per event otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from caudal.events.model import CanonicalEvent
from caudal.events.router import table as table_module
from caudal.events.router.consumer import SinkConsumer
from caudal.events.router.table import Routes
from caudal.platform.bus.model import Message, Record

AT = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


class KeepingSink:
    def __init__(self, name: str) -> None:
        self.name = name
        self.ids: list[str] = []

    async def write(self, events: Sequence[CanonicalEvent]) -> None:
        self.ids += [e.id for e in events]


def record(n: int, type_: str, **data: object) -> Record:
    event = CanonicalEvent("backend", type_, "1", AT, AT, dict(data), id=f"e{n}")
    return Record(event.to_message(f"k{n}"), offset=n, attempt=1, published_at=AT)


async def test_kinds_and_conditions_route_as_the_file_says_and_a_reload_applies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table_module, "CHECK_EVERY_S", 0.0)
    path = tmp_path / "routes.yaml"
    path.write_text(
        "routes:\n"
        "  - {name: buys, match: {type: 'purchase.*'}, sinks: [kinds]}\n"
        "  - {name: approved, match: {where: data.status == approved}, sinks: [cond]}\n"
    )
    routes = Routes(path, {"kinds", "cond"})
    kinds, cond = KeepingSink("kinds"), KeepingSink("cond")
    by_kind, by_event = SinkConsumer(kinds, routes), SinkConsumer(cond, routes)
    batch = [
        record(1, "purchase.done", status="approved"),
        record(2, "click", status="approved"),
        record(3, "purchase.done", status="declined"),
        record(4, "click"),
    ]
    await by_kind.handle(batch)
    await by_event.handle(batch)
    assert (kinds.ids, cond.ids) == (["e1", "e3"], ["e1", "e2"])

    path.write_text("routes:\n  - {name: clicks, match: {type: click}, sinks: [kinds, cond]}\n")
    await by_kind.handle(batch)
    await by_event.handle(batch)
    assert (kinds.ids, cond.ids) == (["e1", "e3", "e2", "e4"], ["e1", "e2", "e2", "e4"])


async def test_a_sink_sent_every_event_gets_them_all_in_order_and_a_bad_payload_fails_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table_module, "CHECK_EVERY_S", 0.0)
    path = tmp_path / "routes.yaml"
    path.write_text("routes:\n  - {name: all, sinks: [all]}\n")
    sink = KeepingSink("all")
    consumer = SinkConsumer(sink, Routes(path, {"all"}))
    batch = [record(1, "click"), record(2, "purchase.done"), record(3, "x")]
    await consumer.handle(batch)
    assert sink.ids == ["e1", "e2", "e3"]
    broken = Message("events", "k9", {"id": "e9", "type": "click"}, id="e9")
    with pytest.raises(KeyError):
        await consumer.handle([batch[1], Record(broken, 9, 1, AT)])
    assert sink.ids == ["e1", "e2", "e3"]  # nothing of the failed batch was written
