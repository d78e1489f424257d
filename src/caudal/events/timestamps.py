"""Client timestamps: ISO 8601 with an offset (`2020-10-12T20:01:14-0300`, `-03:00`, `Z`) -> UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from caudal.platform.instants import InstantRangeError, to_utc


class TimestampError(ValueError):
    pass


def parse_utc(value: object) -> datetime:
    """Parse an ISO 8601 timestamp that carries its offset and return it in UTC.

    A timestamp without an offset is refused: guessing its zone would shift the event in time.
    """
    if not isinstance(value, str):
        raise TimestampError("must be an ISO 8601 string such as 2020-10-12T20:01:14-0300")
    if not 10 < len(value) <= 40 or value[10] not in "Tt ":
        raise TimestampError(
            "must be a date and time such as 2020-10-12T20:01:14-0300, -03:00 or Z"
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise TimestampError(
            "is not a valid ISO 8601 timestamp (use 2020-10-12T20:01:14-0300, -03:00 or Z)"
        ) from exc
    # `fromisoformat` gives a fixed-offset zone or none: no zone is the one case to refuse.
    if parsed.tzinfo is None:
        raise TimestampError("needs a UTC offset such as -0300, -03:00 or Z")
    if parsed.tzinfo is UTC:  # written with `Z` or `+00:00`: in UTC already
        return parsed
    try:
        return to_utc(parsed)
    except InstantRangeError as exc:
        raise TimestampError(str(exc)) from None
