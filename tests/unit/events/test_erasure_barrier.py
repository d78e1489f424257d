"""The erasure barrier's decision (events/erasure_barrier.py), over a fake `ErasedTokens` where a
sink takes one: which events a write leaves out once an erasure has committed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from caudal.customers.base_c.sink import not_erased
from caudal.customers.events import ERASED
from caudal.events.erasure_barrier import MARGIN, holds_erased, horizon, kept
from caudal.events.lake_files import Partition
from caudal.events.model import CanonicalEvent
from caudal.events.sinks.lake import without_erased

GONE, KEPT = "a" * 64, "b" * 64
ERASED_AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def event(token: str, received: datetime, event_type: str = "card-purchase") -> CanonicalEvent:
    return CanonicalEvent(
        source="backend",
        type=event_type,
        version="1",
        occurred_at=received,
        received_at=received,
        data={"cpf": token, "nested": {"n": 1}},
    )


def test_an_event_received_before_the_erasure_of_a_token_it_holds_is_held_back() -> None:
    erased = {GONE: ERASED_AT}
    assert holds_erased(event(GONE, ERASED_AT - timedelta(days=30)), erased)
    assert holds_erased(event(GONE, ERASED_AT - timedelta(seconds=1)), erased)
    assert not holds_erased(event(KEPT, ERASED_AT - timedelta(seconds=1)), erased)


def test_within_the_clock_margin_after_the_erasure_it_is_still_held_back_then_new_data_passes() -> (
    None
):
    erased = {GONE: ERASED_AT}
    assert holds_erased(event(GONE, ERASED_AT + MARGIN - timedelta(seconds=1)), erased)
    assert not holds_erased(event(GONE, ERASED_AT + MARGIN + timedelta(seconds=1)), erased)


def test_a_token_anywhere_in_the_data_counts() -> None:
    deep = CanonicalEvent(
        source="backend",
        type="x",
        version="1",
        occurred_at=ERASED_AT,
        received_at=ERASED_AT,
        data={"list": [{"who": f"prefix-{GONE}"}]},
    )
    assert holds_erased(deep, {GONE: ERASED_AT + timedelta(seconds=1)})


def test_kept_and_the_horizon() -> None:
    old, new = event(GONE, ERASED_AT - timedelta(hours=1)), event(KEPT, ERASED_AT)
    assert horizon([new, old]) == old.received_at - MARGIN
    batch = [old, new]
    assert kept(batch, {}) is batch  # the common case copies nothing
    assert kept(batch, {GONE: ERASED_AT}) == [new]


def test_the_lake_plan_loses_the_held_back_events_and_any_group_left_empty() -> None:
    old, new = event(GONE, ERASED_AT - timedelta(hours=1)), event(KEPT, ERASED_AT)
    a, b = Partition("backend", "card-purchase", "2026-12-03"), Partition("backend", "x", "d")
    plan = {(a, 0): [(1, old), (2, new)], (b, 1): [(3, old)]}
    assert without_erased(plan, {GONE: ERASED_AT}) == {(a, 0): [(2, new)]}


def test_base_c_never_holds_back_the_erasure_notice_itself() -> None:
    notice = CanonicalEvent(
        source="customers",
        type=ERASED,
        version="1",
        occurred_at=ERASED_AT,
        received_at=ERASED_AT - timedelta(hours=1),
        data={"customer_id": "c", "cpf_index": GONE},
    )
    purchase = event(GONE, ERASED_AT - timedelta(hours=1))
    assert not_erased([notice, purchase], {GONE: ERASED_AT}, _no_cpf) == [notice]


def _no_cpf(cpf: str) -> bytes:
    raise AssertionError("every CPF here is a token already")


def test_a_token_inside_a_longer_hex_run_counts_at_any_offset_and_many_tokens_cost_no_more() -> (
    None
):
    tokens = {f"{i:064x}": ERASED_AT for i in range(1, 20_000)}
    hidden = CanonicalEvent(
        source="backend",
        type="x",
        version="1",
        occurred_at=ERASED_AT,
        received_at=ERASED_AT - timedelta(seconds=1),
        data={"h": "abc1234" + GONE + "ff" * 15},
    )
    assert holds_erased(hidden, tokens | {GONE: ERASED_AT})
    assert not holds_erased(hidden, tokens)
