"""The router end to end: routes from a file, one consumer group per sink, reloads, refusals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from caudal import wiring
from caudal.bus.postgres import PostgresBus
from caudal.events.intake import to_message
from caudal.events.model import CanonicalEvent
from caudal.events.router import table as table_module
from caudal.events.router.consumer import SinkConsumer
from caudal.events.router.rules import RoutesError
from caudal.events.router.table import Routes
from caudal.platform import capability
from caudal.platform.bootstrap import Container
from caudal.platform.http.app import create_app
from tests.support.bus import consuming, until


class KeepingSink:
    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[CanonicalEvent] = []

    async def write(self, events: Sequence[CanonicalEvent]) -> None:
        self.events.extend(events)

    def types(self) -> list[str]:
        return [e.type for e in self.events]


def event(type_: str, source: str = "backend", **data: object) -> CanonicalEvent:
    at = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    return CanonicalEvent(source, type_, "1", at, at, dict(data))


ROUTES = """
routes:
  - name: all-to-archive
    sinks: [archive]
  - name: approved-purchases
    match:
      type: "purchase.*"
      where: data.status == approved
    sinks: [alerts]
"""


async def test_each_sink_receives_only_what_the_routes_send_it(
    bus: PostgresBus, tmp_path: Path
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    archive, alerts = KeepingSink("archive"), KeepingSink("alerts")
    routes = Routes(path, {"archive", "alerts"})
    events = [
        event("purchase.done", status="approved"),
        event("purchase.done", status="declined"),
        event("click", "frontend"),
        event("purchase.refund", status="approved"),
    ]
    async with consuming(bus, SinkConsumer(archive, routes), SinkConsumer(alerts, routes)):
        await bus.publish([to_message(e) for e in events])
        await until(lambda: len(archive.events) == 4 and len(alerts.events) == 2)
    assert sorted(e.id for e in archive.events) == sorted(e.id for e in events)
    assert sorted(e.id for e in alerts.events) == sorted([events[0].id, events[3].id])
    [status_alerts, status_archive] = await bus.status()
    assert (status_alerts.group, status_alerts.lag) == ("alerts", 0)
    assert (status_archive.group, status_archive.lag) == ("archive", 0)


def test_an_edited_file_is_reloaded_and_a_broken_edit_keeps_the_routes_in_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table_module, "CHECK_EVERY_S", 0.0)
    path = tmp_path / "routes.yaml"
    path.write_text(ROUTES)
    routes = Routes(path, {"archive", "alerts"})
    click = event("click", "frontend")
    assert routes.current().sinks_for(click) == {"archive"}

    path.write_text("routes:\n  - sinks: [alerts]\n")
    assert routes.current().sinks_for(click) == {"alerts"}

    path.write_text("routes:\n  - sinks: [alerts]\n  - sinks: [nowhere]\n")  # unknown sink
    assert routes.current().sinks_for(click) == {"alerts"}
    path.write_text("routes: [\n")  # not YAML
    assert routes.current().sinks_for(click) == {"alerts"}


def test_an_invalid_file_is_refused_at_startup_with_the_line_at_fault(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("routes:\n  - sinks: [archive]\n  - name: x\n    sinks: [archive, typo]\n")
    with pytest.raises(RoutesError) as caught:
        Routes(path, {"archive"})
    assert str(caught.value).startswith(f"{path}:3: rule 'x' names unknown sink 'typo'")
    with pytest.raises(RoutesError, match="cannot read the file"):
        Routes(tmp_path / "missing.yaml", {"archive"})


async def test_the_app_refuses_to_start_with_a_bad_routes_file(
    container: Container, tmp_path: Path
) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text("routes:\n  - name: a\n    sinks: [lake]\n    match:\n      typ: x\n")
    container.settings.events.routes = path
    app = create_app(container, wiring.capabilities())
    with pytest.raises(RoutesError, match=r"routes.yaml:5: unknown key 'typ' in match"):
        async with app.router.lifespan_context(app):
            pass


async def test_the_app_starts_one_consumer_group_per_registered_sink(
    container: Container,
) -> None:
    capabilities = wiring.capabilities()
    app = create_app(container, capabilities)
    async with app.router.lifespan_context(app):
        groups = {c.group for c in capability.consumers(capabilities)}
    assert {"lake", "realtime", "customers.activity", "webhook"} <= groups
