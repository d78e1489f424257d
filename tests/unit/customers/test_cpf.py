from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caudal.customers import cpf


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
