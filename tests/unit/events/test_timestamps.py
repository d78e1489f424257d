from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caudal.events.timestamps import TimestampError, parse_utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-10-12T20:01:14-0300", datetime(2020, 10, 12, 23, 1, 14, tzinfo=UTC)),
        ("2020-10-12T20:01:14-03:00", datetime(2020, 10, 12, 23, 1, 14, tzinfo=UTC)),
        ("2020-10-12T23:01:14Z", datetime(2020, 10, 12, 23, 1, 14, tzinfo=UTC)),
        ("2020-10-12T23:01:14.250+00:00", datetime(2020, 10, 12, 23, 1, 14, 250000, tzinfo=UTC)),
        ("2020-10-12T01:30:00+0530", datetime(2020, 10, 11, 20, 0, 0, tzinfo=UTC)),
    ],
)
def test_offsets_are_converted_to_utc(text: str, expected: datetime) -> None:
    parsed = parse_utc(text)
    assert parsed == expected
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "value",
    [
        "2020-10-12T20:01:14",
        "2020-10-12",
        "yesterday",
        "",
        1602543674,
        None,
        "2020-13-45T25:00:00Z",
    ],
)
def test_ambiguous_or_invalid_timestamps_are_refused(value: object) -> None:
    with pytest.raises(TimestampError):
        parse_utc(value)
