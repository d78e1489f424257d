"""The positions one group of a process read, served to its other groups (bus/fetched_runs.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caudal.bus import fetched_runs
from caudal.bus.fetched_runs import FetchedRuns, Row

KEY = (("events",), 3)
AT = datetime(2026, 12, 3, tzinfo=UTC)
START = ("0", 0)


def rows(first: int, last: int, xid: str = "7") -> list[Row]:
    return [(xid, seq, f"m{seq}", AT) for seq in range(first, last + 1)]


def test_a_group_at_the_same_position_takes_what_another_read() -> None:
    runs = FetchedRuns()
    runs.note(KEY, START, rows(1, 10))
    assert runs.after(KEY, START, 4) == rows(1, 4)
    assert runs.after(KEY, ("7", 4), 6) == rows(5, 10)
    assert runs.offered == 10


def test_nothing_for_another_partition_topic_set_or_an_unknown_position() -> None:
    runs = FetchedRuns()
    runs.note(KEY, START, rows(1, 10))
    assert runs.after((("events",), 4), START, 4) == []
    assert runs.after((("events", "other"), 3), START, 4) == []
    assert runs.after(KEY, ("7", 11), 4) == []  # past the run
    assert runs.after(KEY, ("8", 4), 4) == []  # another transaction's position, same seq


def test_the_end_of_the_run_is_read_from_postgresql() -> None:
    runs = FetchedRuns()
    runs.note(KEY, START, rows(1, 10))
    assert runs.after(KEY, ("7", 10), 5) == []


def test_a_read_from_inside_the_run_extends_it_when_it_agrees() -> None:
    runs = FetchedRuns()
    runs.note(KEY, START, rows(1, 10))
    runs.note(KEY, ("7", 6), rows(7, 15))  # a group at 6 read 9 rows
    assert runs.after(KEY, START, 15) == rows(1, 15)


def test_a_read_that_disagrees_replaces_the_run() -> None:
    """A message erased between two reads: the newer read is the truth from its start on."""
    runs = FetchedRuns()
    runs.note(KEY, START, rows(1, 10))
    erased = [r for r in rows(7, 15) if r[1] != 8]
    runs.note(KEY, ("7", 6), erased)
    assert runs.after(KEY, START, 2) == []
    assert runs.after(KEY, ("7", 6), 8) == erased


def test_a_shorter_read_that_agrees_keeps_the_run() -> None:
    runs = FetchedRuns()
    runs.note(KEY, START, rows(1, 10))
    runs.note(KEY, ("7", 6), rows(7, 8))  # a group with a smaller batch
    assert runs.after(KEY, START, 10) == rows(1, 10)


def test_rows_read_too_long_ago_are_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(fetched_runs.time, "monotonic", lambda: now[0])
    runs = FetchedRuns(max_age=5.0)
    runs.note(KEY, START, rows(1, 10))
    now[0] = 106.0
    assert runs.after(KEY, START, 4) == []


def test_bounded_per_partition_the_oldest_rows_go_first() -> None:
    runs = FetchedRuns(rows=8)
    runs.note(KEY, START, rows(1, 6))
    runs.note(KEY, ("7", 6), rows(7, 12))  # 12 > 8: keeps the last 6
    assert runs.after(KEY, START, 1) == []
    assert runs.after(KEY, ("7", 5), 1) == []
    assert runs.after(KEY, ("7", 6), 6) == rows(7, 12)


def test_a_read_far_behind_the_run_leaves_it_for_when_that_group_gets_there() -> None:
    runs = FetchedRuns(rows=8)
    runs.note(KEY, START, rows(1, 6))
    runs.note(KEY, ("7", 6), rows(7, 12))  # the run now starts after 6
    runs.note(KEY, START, rows(1, 3))  # a group far behind read PostgreSQL
    assert runs.after(KEY, ("7", 6), 6) == rows(7, 12)
    assert runs.after(KEY, ("6", 9), 1) == []  # (an older transaction's position)
    runs.note(KEY, ("7", 3), rows(4, 8))  # it reached the run: agrees, nothing new
    assert runs.after(KEY, ("7", 8), 4) == rows(9, 12)
