"""Cheap structural guards applied to parsed request bodies before anything else looks at them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any


def depth_exceeds(value: Any, limit: int) -> bool:
    """True if `value` nests objects/arrays deeper than `limit` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > limit:
            return True
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def most_containers(raw: bytes | None) -> int | None:
    """How many objects and arrays the JSON text `raw` can hold at most (None: unknown): each
    opens with its own `{` or `[` in the text, and one inside a string opens nothing. So no value
    parsed from `raw` nests deeper than this, and `depth_exceeds` need not walk it when its limit
    is at least this (two C counts, ~0.2 µs a kilobyte, where the walk of a 20-event body cost
    ~15 µs)."""
    return None if raw is None else raw.count(b"{") + raw.count(b"[")


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _numbers(value: Any, path: str = "") -> Iterator[tuple[str, int | float]]:
    """Every number in `value` with its path (`data[0].count`), depth first."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, dict):
            for key, child in current.items():
                stack.append((child, f"{where}.{key}" if where else str(key)))
        elif isinstance(current, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(current))
        elif isinstance(current, int | float) and not isinstance(current, bool):
            yield where, current


def _unsafe(number: float) -> bool:
    if isinstance(number, int):
        return not INT64_MIN <= number <= INT64_MAX
    return not math.isfinite(number)


def _suspect(value: Any) -> bool:
    """Any number the lake cannot keep as written: an int out of int64, a non-finite float,
    or a float that may be such an int (orjson reads integers past 64 bits as floats)."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
        elif isinstance(current, float):
            if not math.isfinite(current) or (abs(current) >= 2**63 and current.is_integer()):
                return True
        elif isinstance(current, int) and not INT64_MIN <= current <= INT64_MAX:
            return True  # (a bool is 0 or 1: always within)
    return False


# A number of magnitude 2^63 (~9.22e18) or more is written with 19 digits or more, or with an
# exponent (which JSON puts right after a digit); so is any number a float cannot hold (orjson
# refuses `Infinity` and `NaN`). A body without either cannot hold a suspect number: the walk
# over every value of the parsed body (`_suspect`) is skipped. The body is reduced to its digits
# (as `0`) and `e`s, everything else a space, then searched: C passes, ~1 µs a kilobyte (a
# regular expression took longer than the walk). Strings may match too (a digit then an `e` in
# a hash): then the walk decides, as before.
_DIGITS_AND_EXPONENTS = bytes(
    ord("0") if chr(b).isdigit() and b < 128 else ord("e") if b in b"eE" else ord(" ")
    for b in range(256)
)
_NINETEEN_DIGITS = b"0" * 19


def may_hold_large_number(raw: bytes) -> bool:
    """False only if no number in the JSON text `raw` can reach ±2^63 or overflow a float."""
    shape = raw.translate(_DIGITS_AND_EXPONENTS)
    return b"0e" in shape or _NINETEEN_DIGITS in shape


def unsafe_number(value: Any, raw: bytes) -> str | None:
    """The path of the first integer beyond ±2^63 or non-finite number in a parsed body, else
    None. Cheap when there is none (one C pass over the raw bytes); otherwise the raw body is
    read again with exact integers (the standard library keeps them) to tell `1e19` (a float,
    fine) from `18446744073709551616` (an integer the lake would silently turn into a float)."""
    if not may_hold_large_number(raw) or not _suspect(value):
        return None
    try:
        exact = json.loads(raw)
    except ValueError:  # an integer past Python's 4300-digit conversion limit
        return "body"
    for where, number in _numbers(exact):
        if _unsafe(number):
            return where or "body"
    return None
