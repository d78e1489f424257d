"""CPF (Cadastro de Pessoas Físicas): validation, normalisation and masking. Pure functions."""

from __future__ import annotations

import re

from caudal.platform.cpf_digits import check_digit as _check_digit
from caudal.platform.cpf_digits import valid_digits

_PUNCTUATION = re.compile(r"[.\-\s/]")
_DIGITS = re.compile(r"^\d{11}$")


class InvalidCpf(ValueError):
    """The text is not a valid CPF (shape or check digits)."""


def normalize(value: str) -> str:
    """The 11 digits of a valid CPF, given with or without punctuation (`123.456.789-09`).

    Raises `InvalidCpf` for a wrong length, letters, all-same digits or wrong check digits.
    """
    if not isinstance(value, str):
        raise InvalidCpf("the CPF must be a string of 11 digits")
    if valid_digits(value):
        return value  # bare digits, the common case: no punctuation to take away
    digits = _PUNCTUATION.sub("", value.strip())
    if not _DIGITS.match(digits):
        raise InvalidCpf("the CPF must have 11 digits (punctuation is optional)")
    if digits == digits[0] * 11:
        raise InvalidCpf("a CPF with all digits equal is not valid")
    if not valid_digits(digits):
        raise InvalidCpf("the CPF check digits do not match")
    return digits


def is_valid(value: str) -> bool:
    try:
        normalize(value)
    except InvalidCpf:
        return False
    return True


def format_cpf(digits: str) -> str:
    """`12345678909` -> `123.456.789-09`."""
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


def mask(digits: str) -> str:
    """`12345678909` -> `***.456.789-**`: the middle six digits only, as the Receita does."""
    return f"***.{digits[3:6]}.{digits[6:9]}-**"


def with_check_digits(nine: str) -> str:
    """The valid CPF that starts with these nine digits (for fixtures and benchmarks)."""
    first = _check_digit(nine)
    second = _check_digit(nine + str(first))
    return f"{nine}{first}{second}"
