"""One strict grammar for decimal numbers that clients send (money, amounts).

`Decimal(text)` is far too lenient for input: it takes full-width digits (`"１２"`), underscores
(`"1_000"`), surrounding blanks, exponents (`"1E+2"`), `NaN` and `Infinity`, and a huge exponent
makes the later `quantize` raise. Every API that reads an amount goes through `parse_decimal`:
an optional minus, ASCII digits, an optional point with digits, and nothing else.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

# Digits on both sides of the point. Decimal's default context holds 28; 26 leaves room for the
# two places of a `quantize` to cents, which would otherwise raise on a longer number.
MAX_DIGITS = 26
_GRAMMAR = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?", re.ASCII)


class DecimalSyntaxError(ValueError):
    """Not a plain decimal; the message says what is expected."""


def parse_decimal(value: Any) -> Decimal:
    """An exact Decimal from a JSON number or a decimal string (`"10.50"`, `10.5`, `-3`).

    A float arrives as the shortest text that round-trips (`repr`): `1e30` keeps its exponent
    and is refused like the string `"1E+2"`.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise DecimalSyntaxError("must be a decimal number such as 10.50")
    text = repr(value) if isinstance(value, float) else str(value)
    match = _GRAMMAR.fullmatch(text)
    if match is None:
        raise DecimalSyntaxError(
            "must be a plain decimal number such as 10.50 (ASCII digits and an optional "
            "point: no spaces, exponent, separator or sign other than -)"
        )
    digits = len(match.group(1)) + len(match.group(2) or "")
    if digits > MAX_DIGITS:
        raise DecimalSyntaxError(f"has more than {MAX_DIGITS} digits")
    return Decimal(text)
