"""Schemathesis against a live server: every operation of its `/openapi.json`, positive and
negative cases, four checks. Shared by tests/e2e/test_contract_fuzz.py (bounded) and
bench/fuzz.py (long run).

Each operation runs its own Hypothesis loop; a failing check is recorded (operation, check,
message, the case as curl) and the loop goes on, so one run reports every distinct failure
instead of stopping at the first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


@dataclass
class Failure:
    operation: str
    check: str
    message: str
    status: int
    curl: str

    def __str__(self) -> str:
        curl = self.curl if len(self.curl) < 600 else self.curl[:600] + "..."
        return f"{self.operation} [{self.check}] -> {self.status}: {self.message}\n  {curl}"


@dataclass
class Report:
    operations: int = 0
    cases: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    def distinct(self) -> list[Failure]:
        seen: dict[tuple[str, str, int, str], Failure] = {}
        for f in self.failures:
            seen.setdefault((f.operation, f.check, f.status, f.message[:120]), f)
        return list(seen.values())

    def summary(self) -> str:
        return (
            f"schemathesis: {self.operations} operations, {self.cases} cases, "
            f"{len(self.failures)} failures ({len(self.distinct())} distinct), "
            f"{self.seconds:.1f} s; statuses {dict(sorted(self.statuses.items()))}"
        )


def fuzz(
    base_url: str,
    token: str,
    *,
    max_examples: int,
    seconds_per_operation: float | None = None,
    seed: int | None = None,
) -> Report:
    """Fuzz every operation with `max_examples` cases (positive and negative mixed); with
    `seconds_per_operation`, rounds of that many (each from the next seed) until the time is
    spent."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=30)
    checks = [getattr(st_checks, name) for name in CHECKS]
    headers = {"Authorization": f"Bearer {token}"}
    report = Report()
    started = time.perf_counter()
    for result in schema.get_all_operations():
        report.operations += 1
        operation = result.ok()
        stop_at = time.monotonic() + (seconds_per_operation or 0)
        round_seed = seed
        while True:
            _operation(operation, base_url, headers, checks, report, max_examples, round_seed)
            if seconds_per_operation is None or time.monotonic() >= stop_at:
                break
            round_seed = None if round_seed is None else round_seed + 1
    report.seconds = time.perf_counter() - started
    return report


def _operation(
    operation: Any,
    base_url: str,
    headers: dict[str, str],
    checks: list[Any],
    report: Report,
    max_examples: int,
    seed: int | None,
) -> None:
    label = f"{operation.method.upper()} {operation.path}"
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=seed is None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report, move on
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        report.cases += 1
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
        for check in checks:
            try:
                case.validate_response(response, checks=[check], headers=headers)
            except (AssertionError, BaseExceptionGroup) as exc:
                report.failures.append(
                    Failure(
                        label,
                        check.__name__,
                        _first_line(exc),
                        response.status_code,
                        case.as_curl_command(),
                    )
                )

    if seed is not None:
        run = hypothesis_seed(seed)(run)
    run()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " | ".join(line.strip() for line in text.splitlines()[:6] if line.strip())
