"""Customer lookup by CPF across Bases A (PII), B (score) and C (activity)."""

from __future__ import annotations

from typing import Any

from caudal.platform import scopes
from caudal.web.section import Section
from caudal.web.sources.fetch import Reader
from caudal.web.sources.shapes import items


async def lookup(reader: Reader, cpf: str) -> dict[str, Section]:
    digits = "".join(c for c in cpf if c.isdigit())
    found: dict[str, Section] = {}
    masked = not reader.session.has(scopes.CUSTOMERS_PII)
    base_a = await reader.get(
        "Customer records (Base A)",
        scopes.CUSTOMERS_PII,
        "/clientes",
        cpf=digits,
        mask="true" if masked else None,
    )
    customer: dict[str, Any] | None = None
    if base_a.ok:
        rows = items(base_a.value)
        customer = rows[0] if rows else None
        base_a = Section.of(customer)
    found["customer"] = base_a
    if customer is not None and customer.get("id"):
        found["score"] = await reader.get(
            "Score (Base B)",
            scopes.CUSTOMERS_SCORE,
            f"/clientes/{customer['id']}/score",
            route="/clientes/{id}/score",
        )
    else:
        found["score"] = Section("ok", None, "No score without a customer record.")
    found["activity"] = await reader.get(
        "Activity (Base C)",
        scopes.CUSTOMERS_ACTIVITY,
        f"/clientes/{digits}/consultar",
        route="/clientes/{cpf}/consultar",
    )
    found["masked"] = Section.of(masked)
    return found
