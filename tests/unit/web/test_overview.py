from __future__ import annotations

from datetime import UTC, datetime, timedelta

from caudal.web.overview import RANGES, RateRow, build_series, hour_figures, pick_range
from caudal.web.sources.monitor import rate_rows

NOW = datetime(2026, 11, 22, 10, 30, 42, tzinfo=UTC)
MINUTE = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)


def row(minutes_ago: int, source: str, kind: str, count: int) -> RateRow:
    return RateRow(MINUTE - timedelta(minutes=minutes_ago), source, kind, count)


def test_counts_land_in_their_minute_oldest_first() -> None:
    series = build_series(
        [
            row(0, "frontend", "click_a", 3),
            row(0, "frontend", "click_b", 2),
            row(59, "backend", "selfie-uploaded", 7),
            row(60, "backend", "selfie-uploaded", 100),  # outside the hour
        ],
        NOW,
    )
    assert len(series["minutes"]) == 60
    assert series["minutes"][0] == "2026-11-22T09:31:00+00:00"
    assert series["minutes"][-1] == "2026-11-22T10:30:00+00:00"
    assert series["by_source"]["frontend"][-1] == 5
    assert series["by_source"]["backend"][0] == 7
    assert sum(series["by_source"]["backend"]) == 7
    assert series["events_in_range"] == 12 and series["partial"] is True
    assert list(series["by_source"]) == ["backend", "frontend"]
    figures = hour_figures(
        [row(0, "frontend", "a", 5), row(59, "b", "c", 7), row(60, "b", "c", 1)], NOW
    )
    assert figures["events_last_hour"] == 12 and figures["events_last_minute"] == 5


def test_a_range_fixes_its_buckets_and_spans_the_whole_range() -> None:
    week = pick_range("7d")
    rows = [
        RateRow(datetime(2026, 11, 22, 10, 5, tzinfo=UTC), "frontend", "a", 2),
        RateRow(datetime(2026, 11, 22, 10, 59, tzinfo=UTC), "frontend", "a", 3),
        RateRow(datetime(2026, 11, 15, 11, 0, tzinfo=UTC), "frontend", "a", 4),  # first hour
        RateRow(datetime(2026, 11, 15, 10, 59, tzinfo=UTC), "frontend", "a", 100),  # before it
    ]
    series = build_series(rows, NOW, span=week)
    assert series["step_seconds"] == 3600 and len(series["minutes"]) == 168
    assert series["minutes"][0] == "2026-11-15T11:00:00+00:00"
    assert series["minutes"][-1] == "2026-11-22T10:00:00+00:00"
    assert series["by_type"]["a"][-1] == 5 and series["by_type"]["a"][0] == 4
    assert [len(build_series([], NOW, span=r)["minutes"]) for r in RANGES] == [15, 60, 144, 168]
    assert pick_range("nonsense").name == "1h"


def test_types_beyond_the_busiest_are_summed_as_other() -> None:
    rows = [row(1, "frontend", f"click_{i}", 10 - i) for i in range(10)]
    series = build_series(rows, NOW, top=3)
    assert list(series["by_type"]) == ["click_0", "click_1", "click_2", "other"]
    assert sum(series["by_type"]["other"]) == sum(10 - i for i in range(3, 10))


def test_ledger_posting_rate_is_the_last_five_minutes_average() -> None:
    rows = [row(m, "ledger", "ledger.posted", 10) for m in range(0, 8)]
    rows.append(row(0, "ledger", "ledger.rejected", 50))
    assert hour_figures(rows, NOW)["ledger_postings_per_minute"] == 10.0


def test_empty_hour_is_all_zeros() -> None:
    series = build_series([], NOW)
    assert series["by_source"] == {} and series["events_in_range"] == 0


def test_rate_rows_read_the_monitor_shape() -> None:
    body = {
        "rates": [
            {"minute": "2026-11-22T10:30:00Z", "source": "frontend", "type": "x", "count": 4},
            {"minute": "not a time", "source": "frontend", "type": "x", "count": 1},
        ]
    }
    assert rate_rows(body) == [RateRow(MINUTE, "frontend", "x", 4)]
