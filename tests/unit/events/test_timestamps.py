from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caudal.events.timestamps import TimestampError, parse_utc
from caudal.platform.instants import InstantRangeError, to_utc


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


def _parse_utc_before(value: object) -> datetime:
    """`parse_utc` as it was before its UTC shortcut (e67d9ad): the reference it must match."""
    if not isinstance(value, str):
        raise TimestampError("not a string")
    if not 10 < len(value) <= 40 or value[10] not in "Tt ":
        raise TimestampError("no time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise TimestampError("invalid") from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise TimestampError("no offset")
    try:
        return to_utc(parsed)
    except InstantRangeError as exc:
        raise TimestampError(str(exc)) from None


_ISO_LIKE = st.builds(
    lambda moment, sep, offset: moment.isoformat(sep=sep) + offset,
    st.datetimes(),
    st.sampled_from(["T", "t", " "]),
    st.sampled_from(
        ["", "Z", "z", "+00:00", "-00:00", "+0000", "-0300", "+05:30", "+14:00", "-23:59"]
    ),
)


@given(
    st.one_of(_ISO_LIKE, st.text(max_size=45), st.from_regex(r"\d{4}-\d\d-\d\dT[0-9:.+Zz-]{0,30}"))
)
def test_the_same_timestamps_are_accepted_as_before_and_read_the_same(text: str) -> None:
    try:
        expected: datetime | str = _parse_utc_before(text)
    except TimestampError:
        expected = "refused"
    try:
        found: datetime | str = parse_utc(text)
    except TimestampError:
        found = "refused"
    assert found == expected
    if isinstance(found, datetime) and isinstance(expected, datetime):
        assert found.tzinfo is UTC and expected.tzinfo is UTC
        assert found.isoformat() == expected.isoformat()
