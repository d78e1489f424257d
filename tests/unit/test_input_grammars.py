"""The platform's strict input grammars: decimals, UTC conversion, linear-time patterns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caudal.platform.decimals import DecimalSyntaxError, parse_decimal
from caudal.platform.instants import InstantRangeError, to_utc
from caudal.platform.linear_regex import PatternError, compile_linear


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10.50", Decimal("10.50")), (10.5, Decimal("10.5")), (-3, Decimal(-3)), ("007", Decimal(7))],
)
def test_plain_decimals(value: Any, expected: Decimal) -> None:
    assert parse_decimal(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "１２",
        "1_000",
        " 1.00",
        "1.00 ",
        "1E+2",
        "1e-3",
        "+1",
        "1.",
        ".5",
        "NaN",
        "Infinity",
        "",
        "1" * 27,
        1e30,
        1e-7,
        10**27,
        True,
        None,
        [1],
    ],
)
def test_everything_else_is_refused(value: Any) -> None:
    with pytest.raises(DecimalSyntaxError):
        parse_decimal(value)


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=2, min_value=-(10**12), max_value=10**12
    )
)
def test_any_cents_value_round_trips_through_its_text(value: Decimal) -> None:
    assert parse_decimal(f"{value:f}") == value


def test_utc_conversion_refuses_the_calendars_edges() -> None:
    late = datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-14)))
    early = datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    for moment in (late, early):
        with pytest.raises(InstantRangeError):
            to_utc(moment)
    assert to_utc(datetime(2020, 10, 12, 20, tzinfo=timezone(timedelta(hours=-3)))) == datetime(
        2020, 10, 12, 23, tzinfo=UTC
    )
    assert to_utc(datetime(2020, 1, 1)) == datetime(2020, 1, 1, tzinfo=UTC)


def test_patterns_run_in_linear_time_or_are_refused() -> None:
    assert compile_linear("^(a+)+$").search("a" * 100_000 + "!") is None
    for pattern in ("(a)\\1", "(?=a)", "(?<!a)b", "(a{1000}){1000}"):
        with pytest.raises(PatternError):
            compile_linear(pattern)
