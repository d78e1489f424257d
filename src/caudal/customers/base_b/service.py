"""Base B use cases: score data, and the cached, explainable score."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from caudal.customers import audit, events
from caudal.customers.audit import Actor
from caudal.customers.base_a import profile
from caudal.customers.base_a import service as base_a
from caudal.customers.base_b import store
from caudal.customers.base_c import store as base_c_store
from caudal.customers.base_c.projection import BUREAU_QUERY
from caudal.customers.context import Customers
from caudal.customers.score import scorecard
from caudal.customers.validation import FREQUENCIES, ScoreData


def _fonte(item: Any) -> dict[str, Any]:
    return {
        "tipo": item.tipo,
        "descricao": item.descricao,
        "valor": str(item.valor),
        "frequencia": item.frequencia,
    }


def _bem(item: Any) -> dict[str, Any]:
    return {
        "tipo": item.tipo,
        "valor_estimado": str(item.valor_estimado),
        "descricao": item.descricao,
    }


async def put_score_data(
    customers: Customers, actor: Actor, customer_id: str, data: ScoreData
) -> dict[str, Any]:
    async with customers.database.connection() as conn, conn.transaction():
        sealed, document = await base_a.load(customers, conn, customer_id)
        fontes = [_fonte(f) for f in data.fontes_de_renda]
        bens = [_bem(b) for b in data.bens]
        await store.save(conn, sealed.id, fontes, bens)
        await audit.record(conn, actor, "score-data.write", sealed.id)
        await customers.bus.publish(
            [
                events.customer_event(
                    events.SCORE_DATA_UPDATED, sealed.id, sealed.cpf_index, actor.trace_key
                )
            ],
            conn=conn,
        )
    await customers.cache.invalidate([sealed.id])
    return present(document, fontes, bens)


def present(
    document: dict[str, Any], fontes: list[dict[str, Any]], bens: list[dict[str, Any]]
) -> dict[str, Any]:
    """Seed 002's score-data shape: cpf, data_nascimento, endereco, fontes_de_renda, bens."""
    shown = profile.present("", document, masked=False)
    return {
        "cpf": shown["cpf"],
        "data_nascimento": shown["data_nascimento"],
        "endereco": shown["endereco"],
        "fontes_de_renda": [
            {
                "tipo": f["tipo"],
                "descricao": f["descricao"],
                "valor": profile.number(f["valor"]),
                "frequencia": f["frequencia"],
            }
            for f in fontes
        ],
        "bens": [
            {
                "tipo": b["tipo"],
                "valor_estimado": profile.number(b["valor_estimado"]),
                "descricao": b["descricao"],
            }
            for b in bens
        ],
    }


async def get_score_data(customers: Customers, actor: Actor, customer_id: str) -> dict[str, Any]:
    async with customers.database.connection() as conn, conn.transaction():
        sealed, document = await base_a.load(customers, conn, customer_id)
        fontes, bens = await store.load(conn, sealed.id) or ([], [])
        await audit.record(conn, actor, "score-data.read", sealed.id)
    return present(document, fontes, bens)


def monthly_income(fontes: list[dict[str, Any]]) -> Decimal:
    return sum(
        (Decimal(f["valor"]) * FREQUENCIES.get(f["frequencia"], Decimal(0)) for f in fontes),
        Decimal(0),
    )


def inputs_of(
    document: dict[str, Any],
    fontes: list[dict[str, Any]],
    bens: list[dict[str, Any]],
    bureau_queries: int,
    today: date,
) -> scorecard.ScoreInputs:
    debts = document.get("dividas", [])
    return scorecard.ScoreInputs(
        age_years=profile.age_on(document, today),
        monthly_income=monthly_income(fontes),
        assets=sum((Decimal(b["valor_estimado"]) for b in bens), Decimal(0)),
        debts_total=sum((Decimal(d["valor"]) for d in debts), Decimal(0)),
        overdue_debts=sum(1 for d in debts if date.fromisoformat(d["vencimento"]) < today),
        bureau_queries=bureau_queries,
    )


async def score(
    customers: Customers, actor: Actor, customer_id: str
) -> tuple[dict[str, Any], bool]:
    """(score JSON, served from cache)."""
    customer_id = base_a.valid_id(customer_id)
    cached = await customers.cache.get(customer_id)
    if cached is not None:
        return cached, True
    generation = await customers.cache.generation(customer_id)
    now = datetime.now(UTC)
    async with customers.database.connection() as conn, conn.transaction():
        sealed, document = await base_a.load(customers, conn, customer_id)
        assert sealed.cpf_index is not None
        fontes, bens = await store.load(conn, sealed.id) or ([], [])
        since = now - timedelta(days=customers.settings.bureau_window_days)
        queries = await base_c_store.recent_count(conn, sealed.cpf_index, BUREAU_QUERY, since)
        await audit.record(conn, actor, "score.compute", sealed.id)
    result = scorecard.compute(inputs_of(document, fontes, bens, queries, now.date()))
    value = {"id": sealed.id, **result.as_json(), "calculado_em": now.isoformat()}
    await customers.cache.put(
        sealed.id, value, generation, customers.settings.score_cache_ttl_seconds
    )
    return value, False
