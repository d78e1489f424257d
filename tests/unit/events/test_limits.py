from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caudal.events.limits import (
    _suspect,
    depth_exceeds,
    may_hold_large_number,
    most_containers,
    unsafe_number,
)


def _body(number: Any) -> bytes:
    return json.dumps({"data": [{"event_id": "click_x", "n": number}]}).encode()


@pytest.mark.parametrize(
    ("literal", "where"),
    [
        (b"9223372036854775808", "data[0].n"),  # 2^63: one past int64
        (b"-9223372036854775809", "data[0].n"),
        (b"18446744073709551616", "data[0].n"),  # past 64 bits: orjson reads a float
        (b"9223372036854775807", None),  # int64 max: fine
        (b"1e19", None),  # a float, written as one
        (b"1.5E+300", None),
        (b"12", None),
    ],
)
def test_integers_beyond_int64_are_found_and_floats_are_not(
    literal: bytes, where: str | None
) -> None:
    raw = b'{"data": [{"event_id": "click_x", "n": ' + literal + b"}]}"
    assert unsafe_number(orjson.loads(raw), raw) == where


@given(
    st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False, allow_infinity=False),
    )
)
def test_the_raw_filter_never_skips_a_suspect_number(number: int | float) -> None:
    # The filter may only skip the walk of a body with no suspect number in it.
    raw = _body(number)
    if _suspect(orjson.loads(raw)):
        assert may_hold_large_number(raw)


def test_a_body_of_short_numbers_skips_the_walk() -> None:
    raw = b'{"t": "2020-10-12T20:01:14-0300", "event_id": "click_e", "n": 123456789012345678}'
    assert not may_hold_large_number(raw)


_NESTED = st.recursive(
    st.none() | st.integers(-9, 9) | st.text(alphabet='{}[]"\\ab', max_size=6),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(alphabet="{[a", max_size=3), children, max_size=3)
    ),
    max_leaves=20,
)


@given(_NESTED, st.integers(0, 12))
def test_a_body_with_few_brackets_cannot_nest_past_the_limit(value: Any, limit: int) -> None:
    # The count may only skip the depth walk of a body that cannot exceed the limit.
    raw = orjson.dumps(value)
    if depth_exceeds(value, limit):
        containers = most_containers(raw)
        assert containers is not None and containers > limit


def test_the_depth_walk_is_skipped_for_a_flat_body() -> None:
    assert most_containers(b'{"data": [{"a": "{[{["}]}') == 7
    assert most_containers(None) is None
