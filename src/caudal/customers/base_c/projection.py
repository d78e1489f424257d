"""Base C projection rules: which events feed which seed 002 block, and which value is newest.

Pure: turns canonical events into facts; the store applies them. A fact replaces the current
"ultima" value only if it is newer by (business time, event id), so a late event never
overwrites a newer value and redelivery (same event id) changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from caudal.customers import cpf as cpf_rules
from caudal.customers import events as customer_events
from caudal.customers.validation import money
from caudal.events.model import CanonicalEvent
from caudal.events.pii import CPF_TOKEN


@dataclass(frozen=True)
class Kind:
    event_type: str
    column: str  # base_c.activity column prefix
    block: str  # the seed 002 block name in /consultar
    fields: tuple[str, ...]
    time_field: str
    money_fields: tuple[str, ...] = ()


KINDS: dict[str, Kind] = {
    k.event_type: k
    for k in (
        Kind(
            "bureau-query",
            "ultima_consulta",
            "ultima_consulta",
            ("empresa", "data_consulta", "tipo_empresa"),
            "data_consulta",
        ),
        Kind(
            "financial-movement",
            "movimentacao",
            "movimentacao_financeira",
            ("tipo_movimentacao", "data_movimentacao", "valor", "descricao"),
            "data_movimentacao",
            ("valor",),
        ),
        Kind(
            "card-purchase",
            "ultima_compra",
            "ultima_compra",
            ("data_compra", "valor", "bandeira_cartao", "produto", "tipo", "codigo_transacao"),
            "data_compra",
            ("valor",),
        ),
    )
}
BUREAU_QUERY = "bureau-query"


def business_time(value: Any, fallback: datetime) -> datetime:
    """The block's own date (`data_consulta`, ...) in UTC; date-only means midnight UTC, a
    time without an offset is taken as UTC; unparseable: the event's occurred_at."""
    if not isinstance(value, str) or len(value) < 10:
        return fallback
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return fallback
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Fact:
    event_id: str
    cpf_index: bytes
    kind: Kind
    at: datetime
    block: dict[str, Any]
    occurred_at: datetime
    data: dict[str, Any]  # the event's data without the CPF, for the timeline
    received_at: datetime | None = None  # bounds an erasure's deletes (None: stored long ago)

    def newer_than(self, at: datetime | None, event_id: str | None) -> bool:
        return newer(self.at, self.event_id, at, event_id)


def newer(at: datetime, event_id: str, current_at: datetime | None, current_id: str | None) -> bool:
    if current_at is None:
        return True
    return (at, event_id) > (current_at, current_id or "")


@dataclass
class Plan:
    facts: list[Fact] = field(default_factory=list)
    erased: list[tuple[str, bytes | None]] = field(default_factory=list)  # (customer, cpf index)
    changed_customers: set[str] = field(default_factory=set)  # their score inputs changed
    rejected: list[str] = field(default_factory=list)  # event ids without a valid CPF


def _block(kind: Kind, data: dict[str, Any]) -> dict[str, Any]:
    block: dict[str, Any] = {}
    for name in kind.fields:
        value = data.get(name)
        if name in kind.money_fields and value is not None:
            value = str(money(value, allow_negative=True))
        block[name] = value
    return block


def cpf_index_of(value: Any, cpf_index: Callable[[str], bytes]) -> bytes:
    """The intake stores a CPF as its token, the blind index in hex (`events.pii`); an event
    from before tokenization (still on the bus or replayed) carries the CPF itself."""
    if isinstance(value, str) and CPF_TOKEN.match(value):
        return bytes.fromhex(value)
    return cpf_index(cpf_rules.normalize(str(value or "")))


def plan(events: Sequence[CanonicalEvent], cpf_index: Callable[[str], bytes]) -> Plan:
    """What a batch of events means for Bases B and C."""
    result = Plan()
    for event in events:
        kind = KINDS.get(event.type)
        if kind is not None:
            try:
                found = cpf_index_of(event.data.get("cpf"), cpf_index)
                block = _block(kind, event.data)
            except ValueError:
                result.rejected.append(event.id)
                continue
            result.facts.append(
                Fact(
                    event_id=event.id,
                    cpf_index=found,
                    kind=kind,
                    at=business_time(event.data.get(kind.time_field), event.occurred_at),
                    block=block,
                    occurred_at=event.occurred_at,
                    data={k: v for k, v in event.data.items() if k != "cpf"} | block,
                    received_at=event.received_at,
                )
            )
        elif event.source == customer_events.SOURCE:
            customer_id = event.data.get("customer_id")
            if not isinstance(customer_id, str):
                continue
            if event.type == customer_events.ERASED:
                raw = event.data.get("cpf_index")
                index = bytes.fromhex(raw) if isinstance(raw, str) else None
                result.erased.append((customer_id, index))
            result.changed_customers.add(customer_id)
    return result


def stored_fact(
    event_id: str, cpf_index: bytes, event_type: str, occurred_at: datetime, data: dict[str, Any]
) -> Fact | None:
    """A timeline row as the fact it was projected from (its data holds the block), to project
    a CPF's activity again from the rows an erasure left; None for a type no longer projected."""
    kind = KINDS.get(event_type)
    if kind is None:
        return None
    return Fact(
        event_id=event_id,
        cpf_index=cpf_index,
        kind=kind,
        at=business_time(data.get(kind.time_field), occurred_at),
        block={name: data.get(name) for name in kind.fields},
        occurred_at=occurred_at,
        data=data,
    )


def latest(facts: Iterable[Fact]) -> dict[tuple[bytes, str], Fact]:
    """The newest fact per (CPF index, kind) within a batch."""
    best: dict[tuple[bytes, str], Fact] = {}
    for fact in facts:
        key = (fact.cpf_index, fact.kind.column)
        current = best.get(key)
        if current is None or fact.newer_than(current.at, current.event_id):
            best[key] = fact
    return best


def present_block(kind: Kind, block: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored block in seed 002's shape (money as a JSON number)."""
    if block is None:
        return None
    shown = {name: block.get(name) for name in kind.fields}
    for name in kind.money_fields:
        if shown.get(name) is not None:
            shown[name] = float(Decimal(str(shown[name])))
    return shown
