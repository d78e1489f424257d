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
from operator import mul
from typing import Any

# Digits only where no other digit touches them: 12 digits in a row are not a CPF.
_CPF_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{3})\.?([0-9]{3})\.?([0-9]{3})-?([0-9]{2})(?![0-9])")
_CPF_INT_LOW, _CPF_INT_HIGH = 10**10, 10**11


def check_digit(digits: str) -> int:
    """The check digit that follows these digits (the first of nine, the second of ten)."""
    weight = len(digits) + 1
    return _check(sum(int(d) * (weight - i) for i, d in enumerate(digits)))


# The weights of the two check digits (10..2 over the first nine digits, 11..2 over the first
# ten), applied to the ASCII codes of the digits: the code of `0` (48) times the sum of the
# weights comes off at the end. One pass in C (`map`) instead of a Python generator per digit:
# `/clientes/{cpf}/consultar` checks a CPF on every request (bench/profiles/README.md).
_FIRST = tuple(range(10, 1, -1))
_SECOND = tuple(range(11, 1, -1))
_FIRST_ZERO, _SECOND_ZERO = 48 * sum(_FIRST), 48 * sum(_SECOND)


def _check(total: int) -> int:
    rest = (total * 10) % 11
    return 0 if rest == 10 else rest


def valid_digits(digits: str) -> bool:
    """Whether 11 ASCII digits are a valid CPF: not all equal, check digits matching."""
    if len(digits) != 11 or not (digits.isascii() and digits.isdigit()):
        return False
    codes = digits.encode()
    return (
        digits != digits[0] * 11
        and _check(sum(map(mul, _FIRST, codes)) - _FIRST_ZERO) == codes[9] - 48
        and _check(sum(map(mul, _SECOND, codes)) - _SECOND_ZERO) == codes[10] - 48
    )


# A CPF written any common way inside a longer text (a JSON payload): each group may be followed
# by one separator of those `customers.cpf.normalize` takes away.
_CPF_SEPARATED = re.compile(
    r"(?<![0-9])([0-9]{3})[.\-\s/]?([0-9]{3})[.\-\s/]?([0-9]{3})[.\-\s/]?([0-9]{2})(?![0-9])"
)


def cpfs_in(text: str) -> set[str]:
    """The 11 digits of every valid CPF in a text, bare or punctuated (an 11-digit JSON number
    is bare digits in its text): what must be found again when its holder is erased."""
    found = ("".join(m.groups()) for m in _CPF_SEPARATED.finditer(text))
    return {digits for digits in found if valid_digits(digits)}


def holds_cpf(value: Any) -> bool:
    """Whether a string holds a valid CPF somewhere, or an integer is one (11 digits)."""
    if isinstance(value, str):
        return any(valid_digits("".join(m.groups())) for m in _CPF_IN_TEXT.finditer(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return _CPF_INT_LOW <= value < _CPF_INT_HIGH and valid_digits(str(value))
    return False
