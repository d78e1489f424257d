from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caudal.customers import cpf
from caudal.platform.cpf_digits import cpfs_in, valid_digits


@pytest.mark.parametrize(
    "value", ["529.982.247-25", "52998224725", " 529.982.247-25 ", "529982247-25"]
)
def test_valid_with_or_without_punctuation(value: str) -> None:
    assert cpf.normalize(value) == "52998224725"


@pytest.mark.parametrize(
    "value",
    [
        "000.000.000-00",
        "111.111.111-11",
        "99999999999",
        "529.982.247-24",  # second check digit wrong
        "529.982.247-15",  # first check digit wrong
        "5299822472",  # 10 digits
        "529982247255",  # 12 digits
        "529.982.247-2a",
        "",
    ],
)
def test_invalid(value: str) -> None:
    with pytest.raises(cpf.InvalidCpf):
        cpf.normalize(value)
    assert not cpf.is_valid(value)


def test_format_and_mask() -> None:
    assert cpf.format_cpf("12345678909") == "123.456.789-09"
    assert cpf.mask("12345678909") == "***.456.789-**"


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_generated_check_digits_validate_and_any_single_change_is_caught(nine: str) -> None:
    full = cpf.with_check_digits(nine)
    if full == full[0] * 11:
        assert not cpf.is_valid(full)
        return
    assert cpf.normalize(full) == full
    for position in (9, 10):
        changed = full[:position] + str((int(full[position]) + 1) % 10) + full[position + 1 :]
        assert not cpf.is_valid(changed)


def _textbook_valid(digits: str) -> bool:
    """The Receita's rule written out plainly: the reference the fast check must agree with."""
    if len(digits) != 11 or any(c not in "0123456789" for c in digits):
        return False
    if len(set(digits)) == 1:
        return False
    numbers = [int(c) for c in digits]
    for size in (9, 10):
        total = sum(n * w for n, w in zip(numbers[:size], range(size + 1, 1, -1), strict=True))
        expected = total * 10 % 11 % 10
        if numbers[size] != expected:
            return False
    return True


# Non-ASCII digits (`str.isdigit` takes them) and near-misses next to the valid ones.
_CHARS = st.sampled_from([*"0123456789", "٣", "²", "a", " ", ".", "-"])


@given(
    st.one_of(st.text(_CHARS, min_size=9, max_size=12), st.from_regex(r"\d{11}", fullmatch=True))
)
def test_the_check_digits_agree_with_the_textbook_rule(text: str) -> None:
    assert valid_digits(text) == _textbook_valid(text)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_a_valid_cpf_and_every_single_digit_change_are_judged_as_the_textbook_rule(
    nine: str,
) -> None:
    full = cpf.with_check_digits(nine)
    for position in range(11):
        for digit in "0123456789":
            changed = full[:position] + digit + full[position + 1 :]
            assert valid_digits(changed) == _textbook_valid(changed), changed
            assert cpf.is_valid(changed) == _textbook_valid(changed), changed


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("11111111111", "a CPF with all digits equal is not valid"),
        ("52998224724", "the CPF check digits do not match"),
        (
            "5299822472٣",
            "the CPF check digits do not match",
        ),  # the regex \d takes a non-ASCII digit
        ("5299822472", "the CPF must have 11 digits (punctuation is optional)"),
    ],
)
def test_bare_digits_are_refused_with_the_same_messages(value: str, message: str) -> None:
    with pytest.raises(cpf.InvalidCpf, match=re.escape(message)):
        cpf.normalize(value)


def test_cpfs_in_text_finds_each_valid_cpf_however_written_and_nothing_else() -> None:
    a, b = "52998224725", "12345678909"
    text = (
        f'{{"x": "{a}", "y": 12345678909, "z": "tel 529 982 247 25 / 123.456.789-09",'
        ' "w": "52998224726", "n": 152998224725, "e": "00000000000"}'
    )
    assert cpfs_in(text) == {a, b}
    assert cpfs_in("nada 529.982.247") == set()
