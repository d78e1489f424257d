"""The pseudonymised feature set for machine learning (`caudal customers export-features`).

One row per live customer: a keyed pseudonym instead of the id, no name, no CPF, no address
beyond the state; the scorecard's inputs and its result. Pure: rows in, rows out.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from caudal.customers.base_b.service import inputs_of
from caudal.customers.score import scorecard

COLUMNS = (
    "pseudonimo",
    "idade",
    "uf",
    "sexo",
    "estado_civil",
    "renda_mensal",
    "bens_total",
    "dividas_total",
    "dividas_quantidade",
    "dividas_vencidas",
    "consultas_recentes",
    "score",
    "faixa",
)


def feature_row(
    pseudonym: str,
    document: dict[str, Any],
    fontes: list[dict[str, Any]],
    bens: list[dict[str, Any]],
    bureau_queries: int,
    today: date,
) -> dict[str, Any]:
    inputs = inputs_of(document, fontes, bens, bureau_queries, today)
    result = scorecard.compute(inputs)
    q = Decimal("0.01")
    return {
        "pseudonimo": pseudonym,
        "idade": inputs.age_years,
        "uf": document.get("endereco", {}).get("uf"),
        "sexo": document.get("sexo"),
        "estado_civil": document.get("estado_civil"),
        "renda_mensal": inputs.monthly_income.quantize(q),
        "bens_total": inputs.assets.quantize(q),
        "dividas_total": inputs.debts_total.quantize(q),
        "dividas_quantidade": len(document.get("dividas", [])),
        "dividas_vencidas": inputs.overdue_debts,
        "consultas_recentes": bureau_queries,
        "score": result.score,
        "faixa": result.band,
    }
