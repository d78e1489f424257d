"""Converting client-supplied moments to UTC without letting the calendar's edges raise.

`datetime.fromisoformat("9999-12-31T23:00:00-14:00")` parses, but its UTC instant is in year
10000, so `.astimezone(UTC)` raises OverflowError (a 500 where a 422 belongs). Every parse of a
client's timestamp converts through `to_utc`, which turns that into a ValueError like any other
bad value.
"""

from __future__ import annotations

from datetime import UTC, datetime


class InstantRangeError(ValueError):
    """The moment exists in its own zone but not in UTC (year 1 or 9999 at the edge)."""


def to_utc(moment: datetime) -> datetime:
    """`moment` in UTC (a naive moment is taken as UTC); InstantRangeError past year 1..9999."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InstantRangeError("is outside the years 0001 to 9999 once converted to UTC") from None
