from __future__ import annotations

from decimal import Decimal

import pytest

from caudal.customers.score.scorecard import ScoreInputs, band, compute


def inputs(**change: object) -> ScoreInputs:
    base: dict[str, object] = {
        "age_years": 40,
        "monthly_income": Decimal(20000),
        "assets": Decimal(1_000_000),
        "debts_total": Decimal(0),
        "overdue_debts": 0,
        "bureau_queries": 0,
    }
    base.update(change)
    return ScoreInputs(**base)  # type: ignore[arg-type]


def test_the_best_profile_scores_1000_with_no_reasons() -> None:
    result = compute(inputs())
    assert result.score == 1000
    assert result.band == "excelente"
    assert result.reasons == []
    assert sum(f.maximum for f in result.factors) + 80 == 1000


def test_nothing_known_scores_low_and_explains_why() -> None:
    result = compute(
        inputs(
            age_years=19,
            monthly_income=Decimal(0),
            assets=Decimal(0),
            debts_total=Decimal(5000),
            overdue_debts=4,
            bureau_queries=9,
        )
    )
    assert result.score == 80 + 20
    assert result.band == "muito_baixo"
    assert result.reasons == ["RENDA", "DIVIDAS", "BENS"]
    assert result.as_json()["fatores"][0] == {
        "codigo": "IDADE",
        "descricao": "idade do cliente",
        "pontos": 20,
        "maximo": 120,
    }


@pytest.mark.parametrize(
    ("debts", "income", "overdue", "points"),
    [
        ("0", "1000", 0, 200),
        ("1199.99", "1000", 0, 170),  # ratio < 0.1 of 12000/year
        ("1200", "1000", 0, 120),
        ("3599.99", "1000", 0, 120),
        ("3600", "1000", 0, 60),
        ("7200", "1000", 0, 0),
        ("100", "0", 0, 0),
        ("100", "1000", 1, 120),
        ("100", "1000", 5, 20),  # at most -150
    ],
)
def test_debt_factor_boundaries(debts: str, income: str, overdue: int, points: int) -> None:
    result = compute(
        inputs(debts_total=Decimal(debts), monthly_income=Decimal(income), overdue_debts=overdue)
    )
    assert {f.code: f.points for f in result.factors}["DIVIDAS"] == points


@pytest.mark.parametrize(
    ("age", "points"), [(20, 20), (21, 50), (25, 50), (26, 90), (36, 120), (51, 110), (66, 80)]
)
def test_age_factor(age: int, points: int) -> None:
    assert {f.code: f.points for f in compute(inputs(age_years=age)).factors}["IDADE"] == points


@pytest.mark.parametrize(("queries", "points"), [(0, 160), (1, 120), (2, 120), (3, 60), (6, 0)])
def test_bureau_queries_factor(queries: int, points: int) -> None:
    result = compute(inputs(bureau_queries=queries))
    assert {f.code: f.points for f in result.factors}["CONSULTAS"] == points


@pytest.mark.parametrize(
    ("score", "name"),
    [
        (0, "muito_baixo"),
        (299, "muito_baixo"),
        (300, "baixo"),
        (500, "regular"),
        (700, "bom"),
        (849, "bom"),
        (850, "excelente"),
    ],
)
def test_bands(score: int, name: str) -> None:
    assert band(score) == name
