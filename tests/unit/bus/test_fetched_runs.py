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
    runs.note(KEY, START, rows(1, 10), ends_log=False)
    assert runs.after(KEY, START, 4) == rows(1, 4)
    assert runs.after(KEY, ("7", 4), 6) == rows(5, 10)
    assert runs.served == 10


def test_nothing_for_another_partition_topic_set_or_an_unknown_position() -> None:
    runs = FetchedRuns()
    runs.note(KEY, START, rows(1, 10), ends_log=False)
    assert runs.after((("events",), 4), START, 4) is None
    assert runs.after((("events", "other"), 3), START, 4) is None
    assert runs.after(KEY, ("7", 11), 4) is None  # past the run
    assert runs.after(KEY, ("8", 4), 4) is None  # another transaction's position, same seq


def test_a_short_remainder_only_when_the_read_found_no_more() -> None:
    """A delivery is not cut short (the lake would linger on it) unless the log ended there."""
    runs = FetchedRuns()
    runs.note(KEY, START, rows(1, 10), ends_log=False)
    assert runs.after(KEY, ("7", 6), 5) is None  # 4 held, 5 wanted, more may follow
    runs.note(KEY, ("7", 10), rows(11, 12), ends_log=True)
    assert runs.after(KEY, ("7", 6), 10) == rows(7, 12)


def test_the_end_of_the_run_is_read_from_postgresql() -> None:
    runs = FetchedRuns()
    runs.note(KEY, START, rows(1, 10), ends_log=True)
    assert runs.after(KEY, ("7", 10), 5) is None


def test_a_read_from_inside_the_run_extends_it_when_it_agrees() -> None:
    runs = FetchedRuns()
    runs.note(KEY, START, rows(1, 10), ends_log=False)
    runs.note(KEY, ("7", 6), rows(7, 15), ends_log=False)  # a group at 6 read 9 rows
    assert runs.after(KEY, START, 15) == rows(1, 15)


def test_a_read_that_disagrees_replaces_the_run() -> None:
    """A message erased between two reads: the newer read is the truth from its start on."""
    runs = FetchedRuns()
    runs.note(KEY, START, rows(1, 10), ends_log=False)
    erased = [r for r in rows(7, 15) if r[1] != 8]
    runs.note(KEY, ("7", 6), erased, ends_log=False)
    assert runs.after(KEY, START, 2) is None
    assert runs.after(KEY, ("7", 6), 8) == erased


def test_a_read_that_found_fewer_rows_at_the_end_of_the_log_replaces_the_run() -> None:
    runs = FetchedRuns()
    runs.note(KEY, START, rows(1, 10), ends_log=False)
    runs.note(KEY, ("7", 6), rows(7, 8), ends_log=True)  # 9 and 10 are gone
    assert runs.after(KEY, ("7", 6), 4) == rows(7, 8)
    assert runs.after(KEY, START, 1) is None


def test_rows_read_too_long_ago_are_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(fetched_runs.time, "monotonic", lambda: now[0])
    runs = FetchedRuns(max_age=5.0)
    runs.note(KEY, START, rows(1, 10), ends_log=False)
    now[0] = 106.0
    assert runs.after(KEY, START, 4) is None


def test_bounded_per_partition_the_oldest_rows_go_first() -> None:
    runs = FetchedRuns(rows=8)
    runs.note(KEY, START, rows(1, 6), ends_log=False)
    runs.note(KEY, ("7", 6), rows(7, 12), ends_log=False)  # 12 > 8: keeps the last 4
    assert runs.after(KEY, START, 1) is None
    assert runs.after(KEY, ("7", 7), 1) is None
    assert runs.after(KEY, ("7", 8), 4) == rows(9, 12)
