"""The credit score: an additive, explainable scorecard (0-1000). Pure: no I/O.

Five factors, each worth a fixed number of points; the score is their sum plus a base of 80.
Every answer lists each factor's points and maximum, and the reason codes of the factors that
cost the most points, so a customer can be told why (LGPD art. 20: explainable decisions).

- IDADE (max 120), age in years: <21: 20, 21-25: 50, 26-35: 90, 36-50: 120, 51-65: 110,
  >65: 80.
- RENDA (max 260), monthly income from fontes_de_renda by frequencia: 0: 0, <1500: 60,
  <3000: 120, <6000: 180, <12000: 230, else 260.
- BENS (max 180), sum of bens.valor_estimado: 0: 0, <20k: 50, <100k: 100, <500k: 150, else 180.
- DIVIDAS (max 200), debts in Base A over yearly income: none: 200, <0.1: 170, <0.3: 120,
  <0.6: 60, else (or no income) 0; minus 50 per overdue debt (at most -150).
- CONSULTAS (max 160), bureau queries in the window (Base C, default 90 days): 0: 160,
  1-2: 120, 3-5: 60, else 0.

Bands: <300 muito_baixo, <500 baixo, <700 regular, <850 bom, else excelente.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MODEL_VERSION = "scorecard-v1"
BASE_POINTS = 80

REASONS = {
    "IDADE": "idade do cliente",
    "RENDA": "renda mensal informada",
    "BENS": "valor dos bens informados",
    "DIVIDAS": "dívidas em relação à renda anual, e dívidas vencidas",
    "CONSULTAS": "consultas recentes ao CPF por empresas",
}


@dataclass(frozen=True)
class ScoreInputs:
    age_years: int
    monthly_income: Decimal
    assets: Decimal
    debts_total: Decimal
    overdue_debts: int
    bureau_queries: int


@dataclass(frozen=True)
class Factor:
    code: str
    points: int
    maximum: int

    def as_json(self) -> dict[str, Any]:
        return {
            "codigo": self.code,
            "descricao": REASONS[self.code],
            "pontos": self.points,
            "maximo": self.maximum,
        }


def _age(age: int) -> int:
    if age < 21:
        return 20
    if age <= 25:
        return 50
    if age <= 35:
        return 90
    if age <= 50:
        return 120
    if age <= 65:
        return 110
    return 80


def _steps(value: Decimal, steps: Steps, top: int) -> int:
    for limit, points in steps:
        if value < limit:
            return points
    return top


Steps = tuple[tuple[Decimal, int], ...]
_INCOME: Steps = (
    (Decimal("0.01"), 0),
    (Decimal(1500), 60),
    (Decimal(3000), 120),
    (Decimal(6000), 180),
    (Decimal(12000), 230),
)
_ASSETS: Steps = (
    (Decimal("0.01"), 0),
    (Decimal(20000), 50),
    (Decimal(100000), 100),
    (Decimal(500000), 150),
)


def _debts(total: Decimal, monthly_income: Decimal, overdue: int) -> int:
    if total <= 0:
        points = 200
    elif monthly_income <= 0:
        points = 0
    else:
        ratio = total / (monthly_income * 12)
        points = 170 if ratio < Decimal("0.1") else 120 if ratio < Decimal("0.3") else 0
        if Decimal("0.3") <= ratio < Decimal("0.6"):
            points = 60
    return max(0, points - min(overdue, 3) * 50)


def _queries(count: int) -> int:
    if count <= 0:
        return 160
    if count <= 2:
        return 120
    if count <= 5:
        return 60
    return 0


def band(score: int) -> str:
    if score < 300:
        return "muito_baixo"
    if score < 500:
        return "baixo"
    if score < 700:
        return "regular"
    if score < 850:
        return "bom"
    return "excelente"


@dataclass(frozen=True)
class ScoreResult:
    score: int
    factors: tuple[Factor, ...]

    @property
    def band(self) -> str:
        return band(self.score)

    @property
    def reasons(self) -> list[str]:
        """Codes of the factors that lost points, the costliest first (at most 3)."""
        lost = sorted(
            (f for f in self.factors if f.points < f.maximum),
            key=lambda f: (f.points - f.maximum, f.code),
        )
        return [f.code for f in lost[:3]]

    def as_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "faixa": self.band,
            "motivos": self.reasons,
            "fatores": [f.as_json() for f in self.factors],
            "modelo": MODEL_VERSION,
        }


def compute(inputs: ScoreInputs) -> ScoreResult:
    factors = (
        Factor("IDADE", _age(inputs.age_years), 120),
        Factor("RENDA", _steps(inputs.monthly_income, _INCOME, 260), 260),
        Factor("BENS", _steps(inputs.assets, _ASSETS, 180), 180),
        Factor(
            "DIVIDAS",
            _debts(inputs.debts_total, inputs.monthly_income, inputs.overdue_debts),
            200,
        ),
        Factor("CONSULTAS", _queries(inputs.bureau_queries), 160),
    )
    total = BASE_POINTS + sum(f.points for f in factors)
    return ScoreResult(max(0, min(1000, total)), factors)
