"""Customer lookup by CPF across Bases A (PII), B (score) and C (activity).

A session holding `customers:pii` reads Base A through `GET /clientes?cpf=` in clear. A session
holding only `customers:score` sees the record masked (CPF `***.456.789-**`, first name, birth
year, no street), read in-process through Base A's service with `masked=True` and audited under
the session's subject: that scope already reveals CPF, birth date and address through
`/clientes/{id}/score-data`, so the masked record shows it nothing new.
"""

from __future__ import annotations

from typing import Any

from caudal.platform import scopes
from caudal.web.section import Section
from caudal.web.sources.fetch import Reader
from caudal.web.sources.shapes import items


async def _masked_record(reader: Reader, digits: str) -> Section:
    try:
        from caudal.customers import cpf as cpf_rules
        from caudal.customers.audit import Actor
        from caudal.customers.base_a import profile, service
        from caudal.customers.context import customers_of
    except ImportError:
        return Section.unavailable("Customer records (Base A)")
    try:
        normalized = cpf_rules.normalize(digits)
    except cpf_rules.InvalidCpf as exc:
        return Section.error(f"Customer records (Base A): {exc}")
    container: Any = reader.app.state.container
    actor = Actor(subject=reader.session.subject, trace_key=reader.trace_key)
    _, found = await service.search(
        customers_of(container), actor, nome=None, cpf_digits=normalized, page=1, page_size=1
    )
    if not found:
        return Section.of(None)
    customer_id, document = found[0]
    return Section.of(profile.present(customer_id, document, masked=True))


async def _record(reader: Reader, digits: str) -> Section:
    if reader.session.has(scopes.CUSTOMERS_PII):
        section = await reader.get(
            "Customer records (Base A)", scopes.CUSTOMERS_PII, "/clientes", cpf=digits
        )
        if not section.ok:
            return section
        rows = items(section.value)
        return Section.of(rows[0] if rows else None)
    if reader.session.has(scopes.CUSTOMERS_SCORE):
        if not reader.has("/clientes"):
            return Section.unavailable("Customer records (Base A)")
        return await _masked_record(reader, digits)
    return Section.forbidden(scopes.CUSTOMERS_PII)


async def lookup(reader: Reader, cpf: str) -> dict[str, Section]:
    digits = "".join(c for c in cpf if c.isdigit())
    found: dict[str, Section] = {"masked": Section.of(not reader.session.has(scopes.CUSTOMERS_PII))}
    record = await _record(reader, digits)
    found["customer"] = record
    customer = record.value if record.ok and isinstance(record.value, dict) else None
    if customer is not None and customer.get("id"):
        found["score"] = await reader.get(
            "Score (Base B)",
            scopes.CUSTOMERS_SCORE,
            f"/clientes/{customer['id']}/score",
            route="/clientes/{customer_id}/score",
        )
    elif not reader.session.has(scopes.CUSTOMERS_SCORE):
        found["score"] = Section.forbidden(scopes.CUSTOMERS_SCORE)
    else:
        found["score"] = Section("ok", None, "No score without a customer record.")
    found["activity"] = await reader.get(
        "Activity (Base C)",
        scopes.CUSTOMERS_ACTIVITY,
        f"/clientes/{digits}/consultar",
        route="/clientes/{cpf}/consultar",
    )
    return found
