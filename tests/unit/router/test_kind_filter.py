"""The kinds a sink's group asks the bus for (`RouteTable.kinds`): never one the routes would
send it left out, and no filter at all where the routes look past the kind."""

from __future__ import annotations

import itertools
import os
import random
import re
from fnmatch import fnmatchcase

import pytest

from caudal.bus.kind_sql import kind_params, like_pattern
from caudal.events.router.rules import parse_routes
from caudal.events.router.table import default_routes_text
from caudal.platform.bus.model import KindFilter
from tests.unit.router.test_rules import event

ROUTES = """
routes:
  - name: all
    sinks: [lake]
  - name: a
    match: {source: [frontend, "mob?le"], type: ["card-*", "x_y%z"], version: ["1", "2"]}
    sinks: [picky]
  - name: b
    match: {type: "ledger.*"}
    sinks: [picky, hooks]
  - name: c
    match: {source: backend, where: ["data.ok == true"]}
    sinks: [conditional]
  - name: d
    match: {type: "[ab]*"}
    sinks: [classy]
"""


def test_the_shipped_routes_filter_the_activity_and_webhook_groups_only() -> None:
    table = parse_routes(default_routes_text())
    assert table.kinds("lake") is None and table.kinds("realtime") is None  # take everything
    activity, webhook = table.kinds("customers.activity"), table.kinds("webhook")
    assert activity is not None and webhook is not None
    frontend = event("click_button_help", source="frontend").to_dict()
    assert not activity.takes(frontend) and not webhook.takes(frontend)
    assert activity.takes(event("bureau-query").to_dict())
    assert activity.takes(event("customers.updated", source="customers").to_dict())
    assert webhook.takes(event("ledger.posted", source="ledger").to_dict())
    assert not webhook.takes(event("customers.updated", source="customers").to_dict())


def test_no_filter_where_the_routes_look_past_the_kind() -> None:
    table = parse_routes(ROUTES)
    assert table.kinds("conditional") is None  # a `where`: decided on the payload
    assert table.kinds("classy") is None  # a character class: not pushed down
    assert table.kinds("lake") is None  # a rule without `match`
    assert table.kinds("nobody") == KindFilter(())  # no route: nothing


def test_a_filter_never_leaves_out_an_event_the_routes_send() -> None:
    """Random kinds against the routes, both ways (seed printed on failure)."""
    seed = int(os.environ.get("CAUDAL_TEST_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    table = parse_routes(ROUTES)
    picky, hooks = table.kinds("picky"), table.kinds("hooks")
    assert picky is not None and hooks is not None
    sources = ["frontend", "mobile", "moble", "mobxle", "backend", "Frontend", ""]
    types = ["card-x", "card-", "card", "x_y%z", "xay%z", "ledger.", "ledger.p", "ledgerxp"]
    for _ in range(500):
        e = event(rng.choice(types), source=rng.choice(sources), version=rng.choice("123"))
        for sink, kinds in (("picky", picky), ("hooks", hooks)):
            assert kinds.takes(e.to_dict()) == table.sends(e, sink), f"seed={seed} {e} {sink}"


def test_a_payload_without_a_kind_is_always_taken() -> None:
    kinds = KindFilter((("s", "t", "1"),))
    assert kinds.takes({"source": "s", "type": "t", "version": "1"})
    assert not kinds.takes({"source": "s", "type": "t", "version": "2"})
    for odd in ({}, {"source": "s", "type": "t"}, {"source": "s", "type": ["t"], "version": "1"}):
        assert kinds.takes(odd)
    with pytest.raises(ValueError, match="character classes"):
        KindFilter((("s", "[st]", None),))


def test_globs_become_like_patterns_that_match_the_same_strings() -> None:
    assert like_pattern("card-*") == "card-%"
    assert like_pattern("mob?le") == "mob_le"
    assert like_pattern("x_y%z\\*") == "x\\_y\\%z\\\\%"
    params = kind_params(KindFilter((("a*", None, "1"), (None, "b?", None))))
    assert params == {
        "by": "kind",
        "sources": ["a%", None],
        "types": [None, "b_"],
        "versions": ["1", None],
    }
    # The same semantics as LIKE, checked here with a tiny LIKE evaluator (the SQL side runs in
    # tests/integration/bus/test_kind_filter.py).
    for glob, text in itertools.product(["a*", "a?c", "x_y%z", "*%*", "a\\b*"], ["abc", "x_y%z"]):
        assert _like(text, like_pattern(glob)) == fnmatchcase(text, glob), (glob, text)


def test_a_filter_on_types_alone_is_matched_by_type() -> None:
    """Names alone: equality; any wildcard among them: LIKE patterns; a source, a version or an
    alternative without a type: the general match (what each takes: the integration test)."""
    names = kind_params(KindFilter(((None, "a_b", None), (None, "c%", None))))
    assert (names["by"], names["types"]) == ("type", ["a_b", "c%"])
    globs = kind_params(KindFilter(((None, "a_b", None), (None, "c*", None))))
    assert (globs["by"], globs["types"]) == ("type_like", ["a\\_b", "c%"])
    for general in [
        KindFilter((("s", "a", None),)),
        KindFilter(((None, "a", "1"),)),
        KindFilter(((None, "a", None), (None, None, None))),
    ]:
        assert kind_params(general)["by"] == "kind"


def _like(text: str, pattern: str) -> bool:
    """SQL LIKE with `\\` as escape, by translation to a regular expression."""
    out, escaped = [], False
    for ch in pattern:
        if escaped:
            out.append(re.escape(ch))
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.fullmatch("".join(out), text, re.DOTALL) is not None
