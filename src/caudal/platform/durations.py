"""Parse human durations such as `90`, `15m`, `12h`, `7d` into seconds."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")


def parse_seconds(text: str) -> int:
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration; use e.g. 3600, 15m, 12h or 7d")
    value = int(match.group(1)) * _UNITS[match.group(2) or "s"]
    if value <= 0:
        raise ValueError("a duration must be positive")
    return value
