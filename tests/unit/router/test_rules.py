"""Routing rules: matching, and refusing an invalid routes file with the line at fault."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from caudal.events.model import CanonicalEvent
from caudal.events.router.rules import RoutesError, parse_routes
from caudal.events.router.table import default_routes_text

SHIPPED_SINKS = {"lake", "realtime", "customers.activity", "webhook"}


def event(
    type_: str,
    source: str = "backend",
    version: str = "1",
    data: dict[str, Any] | None = None,
    device: dict[str, Any] | None = None,
) -> CanonicalEvent:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return CanonicalEvent(source, type_, version, now, now, data or {}, device=device)


def test_the_shipped_routes_send_each_event_where_the_design_says() -> None:
    table = parse_routes(default_routes_text())
    table.check_sinks(SHIPPED_SINKS)
    assert table.sinks_for(event("click_button_help", "frontend")) == {"lake", "realtime"}
    for type_ in ("bureau-query", "financial-movement", "card-purchase", "customers.erased"):
        assert table.sinks_for(event(type_)) == {"lake", "realtime", "customers.activity"}
    assert table.sinks_for(event("ledger.posted", "ledger")) == {"lake", "realtime", "webhook"}
    assert table.sends(event("ledger.rejected"), "webhook")
    assert not table.sends(event("selfie-uploaded"), "webhook")

    assert [s for s in sorted(SHIPPED_SINKS) if table.sends_every(s)] == ["lake", "realtime"]


def test_a_sink_gets_every_event_only_from_a_rule_without_match_nor_where() -> None:
    table = parse_routes(
        "routes:\n"
        "  - {name: kinds, match: {type: '*'}, sinks: [globbed]}\n"
        "  - {name: cond, match: {where: data.n == 1}, sinks: [cond]}\n"
        "  - {name: all, sinks: [all]}\n"
        "  - {name: more, match: {type: click}, sinks: [all]}\n"
    )
    assert [s for s in ("globbed", "cond", "all") if table.sends_every(s)] == ["all"]
    for kind in (event("click"), event("x", "frontend", "9", {"n": 2})):
        assert table.sends(kind, "all")


ROUTES = """
routes:
  - name: ios-purchases
    match:
      source: [frontend, "mobile-*"]
      type: "purchase*"
      version: [1, "2"]
      where:
        - device.platform in [ios, ipados]
        - data.amount.currency == BRL
        - data.status != cancelled
    sinks: [webhook]
  - name: big
    match:
      where: data.total == 100
    sinks: realtime
"""


def test_rules_match_source_type_version_and_field_values() -> None:
    table = parse_routes(ROUTES)
    ios = {"platform": "ios", "deviceId": "d"}
    data = {"amount": {"currency": "BRL"}, "status": "paid"}
    assert table.sinks_for(event("purchase", "frontend", "1", data, ios)) == {"webhook"}
    assert table.sinks_for(event("purchase_done", "mobile-app", "2", data, ios)) == {"webhook"}
    # each condition can exclude it
    assert table.sinks_for(event("purchase", "backend", "1", data, ios)) == set()
    assert table.sinks_for(event("refund", "frontend", "1", data, ios)) == set()
    assert table.sinks_for(event("purchase", "frontend", "3", data, ios)) == set()
    android = {"platform": "android", "deviceId": "d"}
    assert table.sinks_for(event("purchase", "frontend", "1", data, android)) == set()
    usd = {"amount": {"currency": "USD"}, "status": "paid"}
    assert table.sinks_for(event("purchase", "frontend", "1", usd, ios)) == set()
    cancelled = {**data, "status": "cancelled"}
    assert table.sinks_for(event("purchase", "frontend", "1", cancelled, ios)) == set()
    # a missing field never equals, and is always "not equal"
    assert table.sinks_for(event("purchase", "frontend", "1", {"status": "x"}, ios)) == set()
    no_status = {"amount": {"currency": "BRL"}}
    assert table.sinks_for(event("purchase", "frontend", "1", no_status, ios)) == {"webhook"}
    # values are typed as YAML reads them: 100 is a number
    assert table.sinks_for(event("x", data={"total": 100})) == {"realtime"}
    assert table.sinks_for(event("x", data={"total": "100"})) == set()


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("routes:\n  - sinks: [lake]\n    match: {type: [a, b}\n", 3, "not valid YAML"),
        ("routes:\n  - sinks: [lake]\n  - sinkz: [lake]\n", 3, "unknown key 'sinkz'"),
        ("routes:\n  - name: a\n    match:\n      type: x\n", 2, "needs `sinks`"),
        ("routes:\n  - sinks: [lake]\n    match:\n      kind: x\n", 4, "unknown key 'kind'"),
        (
            "routes:\n  - sinks: [lake]\n    match:\n      where:\n        - data.x ~ 3\n",
            5,
            "cannot read condition",
        ),
        (
            "routes:\n  - sinks: [lake]\n    match:\n      where: data.x in 3\n",
            4,
            "takes a list",
        ),
        ("routes:\n  - name: a\n    sinks: [lake]\n  - name: a\n    sinks: [lake]\n", 4, "two"),
        ("routes: {}\n", 1, "must be a list"),
        ("", 1, "empty"),
        ("routes:\n  - sinks: []\n", 2, "must not be empty"),
    ],
)
def test_an_invalid_file_is_refused_with_the_line_at_fault(
    text: str, line: int, fragment: str
) -> None:
    with pytest.raises(RoutesError) as caught:
        parse_routes(text, "my-routes.yaml")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"my-routes.yaml:{line}: ")
    assert fragment in str(caught.value)


def test_a_route_naming_an_unknown_sink_is_refused_with_its_line() -> None:
    table = parse_routes("routes:\n  - sinks: [lake]\n  - name: typo\n    sinks: [lak]\n", "r.yaml")
    with pytest.raises(RoutesError) as caught:
        table.check_sinks({"lake", "realtime"})
    assert str(caught.value) == (
        "r.yaml:3: rule 'typo' names unknown sink 'lak' (registered: lake, realtime)"
    )
