"""Pure rules of the pipelines: dates, the quality gate, Retry-After, the schedule."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from caudal.pipelines import quality
from caudal.pipelines.fakestore.client import retry_after_seconds
from caudal.pipelines.model import PipelineError, parse_run_date, run_window_end
from caudal.platform.errors import CaudalError
from caudal.platform.schedule import next_fire
from caudal.platform.settings import PipelinesSettings


def test_a_run_date_covers_everything_before_the_next_utc_midnight() -> None:
    assert run_window_end(date(2020, 3, 1)) == datetime(2020, 3, 2, 0, 0)
    assert run_window_end(date(2020, 12, 31)) == datetime(2021, 1, 1, 0, 0)


def test_run_dates_are_iso_dates() -> None:
    assert parse_run_date("2020-03-02") == date(2020, 3, 2)
    with pytest.raises(CaudalError) as caught:
        parse_run_date("02/03/2020")
    assert caught.value.code == "CAU-PIPELINES-BAD-DATE" and caught.value.status == 422


def fake_checks(failing: dict[str, tuple[int, list[str]]]):  # type: ignore[no-untyped-def]
    asked: list[str] = []

    def run(query: str) -> tuple[int, list[str]]:
        asked.append(query)
        return failing.get(query, (0, []))

    return run, asked


def test_every_check_runs_and_a_clean_result_passes_the_gate() -> None:
    run, asked = fake_checks({})
    results = quality.evaluate(run, has_users=True, has_categories=True)
    assert [r.name for r in results] == [
        "user_not_null",
        "user_known",
        "date_valid",
        "product_known",
        "category_known",
        "quantity_positive",
        "price_present",
    ]
    assert asked == [c.query for c in quality.CHECKS]
    quality.gate(results)  # no exception


def test_checks_that_need_a_user_list_or_categories_are_skipped_without_them() -> None:
    run, asked = fake_checks({})
    results = quality.evaluate(run, has_users=False, has_categories=False)
    assert "user_known" not in [r.name for r in results]
    assert "category_known" not in [r.name for r in results]
    assert "check_user_known" not in asked


def test_a_failing_check_fails_the_gate_with_a_report_of_every_check() -> None:
    run, _ = fake_checks({"check_quantity_positive": (3, ["7", "9"])})
    results = quality.evaluate(run, has_users=False, has_categories=True)
    with pytest.raises(PipelineError) as caught:
        quality.gate(results)
    error = caught.value
    assert error.code == "CAU-PIPELINES-QUALITY"
    assert error.detail == (
        "quality gate failed, nothing was loaded or exported: quantity_positive: 3 line(s) "
        "break 'every quantity is an integer > 0' (e.g. 7, 9)"
    )
    record = error.record()
    assert record["code"] == "CAU-PIPELINES-QUALITY"
    assert [c["check"] for c in record["checks"] if not c["passed"]] == ["quantity_positive"]
    assert len(record["checks"]) == 6


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = datetime(2024, 7, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("5", now) == 5.0
    assert retry_after_seconds("Mon, 01 Jul 2024 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Mon, 01 Jul 2024 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_the_schedule_fires_at_the_cron_time_in_utc() -> None:
    after = datetime(2024, 7, 1, 1, 59, tzinfo=UTC)
    assert next_fire("0 2 * * *", after) == datetime(2024, 7, 1, 2, 0, tzinfo=UTC)
    assert next_fire("0 2 * * *", datetime(2024, 7, 1, 2, 0, tzinfo=UTC)) == datetime(
        2024, 7, 2, 2, 0, tzinfo=UTC
    )


def test_a_bad_cron_expression_is_refused() -> None:
    assert PipelinesSettings(user_carts_cron="30 4 * * 1-5").user_carts_cron == "30 4 * * 1-5"
    with pytest.raises(ValidationError, match="not a cron expression"):
        PipelinesSettings(user_carts_cron="every day")
