import pytest

from caudal.platform.durations import parse_seconds


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("15m", 900), ("12h", 43200), ("7d", 604800)]
)
def test_parses(text: str, seconds: int) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5", "1w", "ten"])
def test_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_seconds(text)
