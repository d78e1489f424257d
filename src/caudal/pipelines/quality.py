"""The quality gate: checks on the lines a run covers. A failing check fails the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from caudal.pipelines.model import PipelineError


@dataclass(frozen=True)
class Check:
    name: str
    query: str  # the named query in sql/user_carts.sql: (failures, up to 5 samples)
    rule: str
    needs_users: bool = False


CHECKS: tuple[Check, ...] = (
    Check("user_not_null", "check_user_not_null", "every cart line has a user (an integer id)"),
    Check("user_known", "check_user_known", "every cart's user is in the source's /users", True),
    Check("date_valid", "check_date_valid", "every cart has a valid date"),
    Check("product_known", "check_product_known", "every product is in the catalogue (/products)"),
    Check("category_known", "check_category_known", "every category is a known category"),
    Check("quantity_positive", "check_quantity_positive", "every quantity is an integer > 0"),
    Check("price_present", "check_price_present", "every product has a price"),
)


@dataclass(frozen=True)
class CheckResult:
    name: str
    rule: str
    failures: int
    samples: list[str]

    @property
    def passed(self) -> bool:
        return self.failures == 0

    def as_dict(self) -> dict[str, object]:
        return {
            "check": self.name,
            "rule": self.rule,
            "passed": self.passed,
            "failures": self.failures,
            "samples": self.samples,
        }


def evaluate(
    run: Callable[[str], tuple[int, list[str]]], *, has_users: bool, has_categories: bool
) -> list[CheckResult]:
    """Run every check that applies: `user_known` needs the source's user list, and
    `category_known` a non-empty list of known categories."""
    results: list[CheckResult] = []
    for check in CHECKS:
        if check.needs_users and not has_users:
            continue
        if check.name == "category_known" and not has_categories:
            continue
        failures, samples = run(check.query)
        results.append(CheckResult(check.name, check.rule, failures, samples))
    return results


def gate(results: list[CheckResult]) -> None:
    """Raise (failing the run, before anything is loaded or exported) if any check failed."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return
    summary = "; ".join(
        f"{r.name}: {r.failures} line(s) break '{r.rule}' (e.g. {', '.join(r.samples)})"
        for r in failed
    )
    raise PipelineError(
        code="CAU-PIPELINES-QUALITY",
        detail=f"quality gate failed, nothing was loaded or exported: {summary}",
        status=422,
        title="Quality gate failed",
        extra={"checks": [r.as_dict() for r in results]},
    )
