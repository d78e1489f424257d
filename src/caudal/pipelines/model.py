"""The vocabulary of pipeline runs: requests, outcomes, errors. No I/O here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from caudal.platform.errors import CaudalError, FieldError

USER_CARTS = "user-carts"
Source = Literal["fakestore", "lake"]
Trigger = Literal["cli", "api", "schedule"]
SOURCES: tuple[str, ...] = ("fakestore", "lake")

# The steps of a run, in order; the CLI's progress bar advances one per step.
STEPS: tuple[str, ...] = (
    "extract",
    "quality",
    "transform",
    "load",
    "export",
    "retention",
)

# Called with a step name when the step starts, and with a detail (e.g. "carts 12.3 MB").
Progress = Callable[[str, str], None]


def no_progress(step: str, detail: str) -> None:
    """A `Progress` that shows nothing (the scheduler and the API run quietly)."""


@dataclass(frozen=True)
class RunRequest:
    run_date: date
    source: Source
    trigger: Trigger
    requested_by: str
    base_url: str | None = None  # overrides CAUDAL_PIPELINES__FAKESTORE_URL (CLI only)
    pipeline: str = USER_CARTS


@dataclass(frozen=True)
class Outcome:
    rows: int
    outputs: list[str]  # the exported files' URLs, then the warehouse table's location
    bronze: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)


def run_window_end(run_date: date) -> datetime:
    """The exclusive end of what a run for `run_date` covers: the next midnight, UTC (naive)."""
    return datetime.combine(run_date + timedelta(days=1), time.min)


def today_utc() -> date:
    return datetime.now(UTC).date()


def parse_run_date(value: str | None) -> date:
    """`YYYY-MM-DD`, `today` or `yesterday` (UTC); None is today."""
    if value is None or value == "today":
        return today_utc()
    if value == "yesterday":
        return today_utc() - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise validation_error_date(value) from exc


def validation_error_date(value: str) -> CaudalError:
    return CaudalError(
        code="CAU-PIPELINES-BAD-DATE",
        detail=f"'{value}' is not a date; use YYYY-MM-DD, today or yesterday",
        status=422,
        title="Validation failed",
        field="date",
        errors=[FieldError("date", "CAU-PIPELINES-BAD-DATE", "use YYYY-MM-DD")],
    )


class PipelineError(CaudalError):
    """A run failed for a reason worth recording in its history (and showing to the user)."""

    def record(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.detail}
        body.update(self.extra)
        return body


def _unreadable_source(code: str, title: str, detail: str, endpoint: str) -> PipelineError:
    return PipelineError(
        code=code, detail=detail, status=502, title=title, extra={"endpoint": endpoint}
    )


def source_unavailable(url: str, why: str) -> PipelineError:
    return _unreadable_source(
        "CAU-PIPELINES-SOURCE-UNAVAILABLE", "Source unavailable", f"GET {url} failed: {why}", url
    )


def source_malformed(url: str, why: str) -> PipelineError:
    return _unreadable_source(
        "CAU-PIPELINES-SOURCE-MALFORMED",
        "Source answered garbage",
        f"GET {url} answered something that is not the expected JSON: {why}",
        url,
    )


def lake_unreadable(where: str, why: str) -> PipelineError:
    return _unreadable_source(
        "CAU-PIPELINES-SOURCE-MALFORMED",
        "Lake files unreadable",
        f"the lake's add_to_cart files ({where}) cannot be read: {why}",
        where,
    )


def run_in_progress(pipeline: str, run_date: date) -> CaudalError:
    return CaudalError(
        code="CAU-PIPELINES-RUN-IN-PROGRESS",
        detail=f"a {pipeline} run for {run_date.isoformat()} is already in progress",
        status=409,
        title="Conflict",
    )
