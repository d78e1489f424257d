"""CLI tables: the key columns fit 80 columns, long values fold (never cut); --wide shows all."""

from __future__ import annotations

import pytest

from caudal.cli import console
from caudal.cli.tables import Column, print_table

COLUMNS = [
    Column("group"),
    Column("topics", key=False),
    Column("lag", right=True),
    Column("dead letters", right=True),
    Column("last error", key=False),
]
ERROR = "ConnectionRefusedError: http://receiver.internal:9000/hooks refused " * 3
ROWS = [["customers.activity-" + "x" * 40, "events", "12", "0", ERROR]]


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console.out, "_width", 80)


def test_the_default_view_fits_80_columns_and_folds_instead_of_cutting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_table(COLUMNS, ROWS, wide=False)
    captured = capsys.readouterr()
    assert max(len(line) for line in captured.out.splitlines()) <= 80
    assert "topics" not in captured.out and "last error" not in captured.out
    assert "…" not in captured.out
    assert "x" * 30 in captured.out.replace("│", "").replace(" ", "").replace("\n", "")
    assert "--wide" in captured.err  # says how to see the rest


def test_wide_shows_every_column_at_its_natural_width(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(COLUMNS, ROWS, wide=True)
    captured = capsys.readouterr()
    assert "last error" in captured.out and ERROR.strip() in captured.out
    assert captured.err == ""
