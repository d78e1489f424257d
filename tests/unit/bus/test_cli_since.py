"""`caudal bus replay --since`: times with offsets, ages, and `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caudal.bus.cli import parse_since

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-10-12T20:01:14-0300", datetime(2020, 10, 12, 23, 1, 14, tzinfo=UTC)),
        ("2020-10-12T23:01:14Z", datetime(2020, 10, 12, 23, 1, 14, tzinfo=UTC)),
        ("2020-10-12", datetime(2020, 10, 12, tzinfo=UTC)),
        ("90m", NOW - timedelta(minutes=90)),
        ("7d", NOW - timedelta(days=7)),
        ("now", NOW),
    ],
)
def test_since_accepts_times_ages_and_now(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


def test_since_refuses_anything_else_with_examples() -> None:
    with pytest.raises(ValueError, match=r"neither a time .* nor an age"):
        parse_since("yesterday", NOW)
