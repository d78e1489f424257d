"""A CPF's check digits, and whether a text or number holds a valid CPF.

Below every capability because every layer needs the arithmetic: customers validates the CPFs
it is given, and the places that must never store one by accident (the events intake, the HTTP
edge's client-chosen trace key, which every log line and the lake carry) look for one.

A CPF in text is 11 digits whose two last are the check digits of the first nine, bare
(`52998224725`) or formatted (`529.982.247-25`), alone or inside a longer text; a run of more
than 11 digits is not one (a card number, a timestamp in ms), nor are 11 equal digits
(`00000000000` passes the arithmetic but is not a CPF).
"""

from __future__ import annotations

import re
from typing import Any

# Digits only where no other digit touches them: 12 digits in a row are not a CPF.
_CPF_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{3})\.?([0-9]{3})\.?([0-9]{3})-?([0-9]{2})(?![0-9])")
_CPF_INT_LOW, _CPF_INT_HIGH = 10**10, 10**11


def check_digit(digits: str) -> int:
    """The check digit that follows these digits (the first of nine, the second of ten)."""
    weight = len(digits) + 1
    total = sum(int(d) * (weight - i) for i, d in enumerate(digits))
    rest = (total * 10) % 11
    return 0 if rest == 10 else rest


def valid_digits(digits: str) -> bool:
    """Whether 11 ASCII digits are a valid CPF: not all equal, check digits matching."""
    return (
        len(digits) == 11
        and digits.isascii()
        and digits.isdigit()
        and digits != digits[0] * 11
        and check_digit(digits[:9]) == int(digits[9])
        and check_digit(digits[:10]) == int(digits[10])
    )


def holds_cpf(value: Any) -> bool:
    """Whether a string holds a valid CPF somewhere, or an integer is one (11 digits)."""
    if isinstance(value, str):
        return any(valid_digits("".join(m.groups())) for m in _CPF_IN_TEXT.finditer(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return _CPF_INT_LOW <= value < _CPF_INT_HIGH and valid_digits(str(value))
    return False
