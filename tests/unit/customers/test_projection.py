from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from caudal.customers.base_c import projection
from caudal.customers.base_c.projection import Fact, business_time, latest, plan
from caudal.customers.base_c.sink import ActivityHandler
from caudal.customers.events import ERASED, UPDATED, customer_event
from caudal.events.model import CanonicalEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CPF = "52998224725"


def index(digits: str) -> bytes:
    return hashlib.sha256(digits.encode()).digest()


def bureau(event_id: str, when: str, empresa: str = "E", cpf: str = CPF) -> CanonicalEvent:
    return CanonicalEvent(
        id=event_id,
        source="backend",
        type="bureau-query",
        version="1.0",
        occurred_at=T0,
        received_at=T0,
        data={"cpf": cpf, "empresa": empresa, "data_consulta": when, "tipo_empresa": "t"},
    )


def test_business_time_accepts_offsets_dates_and_falls_back() -> None:
    assert business_time("2020-10-12T20:01:14-0300", T0) == datetime(
        2020, 10, 12, 23, 1, 14, tzinfo=UTC
    )
    assert business_time("2020-10-12", T0) == datetime(2020, 10, 12, tzinfo=UTC)
    assert business_time("2020-10-12 08:00:00", T0) == datetime(2020, 10, 12, 8, tzinfo=UTC)
    assert business_time("yesterday", T0) == T0
    assert business_time(None, T0) == T0


def test_plan_strips_the_cpf_and_rejects_invalid_ones() -> None:
    result = plan(
        [
            bureau("a", "2026-01-02"),
            bureau("b", "2026-01-02", cpf="111.111.111-11"),
            bureau("c", "2026-01-02", cpf="529.982.247-25"),
        ],
        index,
    )
    assert [f.event_id for f in result.facts] == ["a", "c"]
    assert result.rejected == ["b"]
    assert all("cpf" not in f.data for f in result.facts)
    assert result.facts[0].cpf_index == result.facts[1].cpf_index == index(CPF)
    assert result.facts[0].block == {
        "empresa": "E",
        "data_consulta": "2026-01-02",
        "tipo_empresa": "t",
    }


def test_money_is_kept_exact_as_text() -> None:
    event = CanonicalEvent(
        id="m",
        source="backend",
        type="card-purchase",
        version="1.0",
        occurred_at=T0,
        received_at=T0,
        data={
            "cpf": CPF,
            "data_compra": "2026-01-01",
            "valor": 0.1,
            "bandeira_cartao": "v",
            "produto": "p",
            "tipo": "t",
            "codigo_transacao": "x",
        },
    )
    fact = plan([event], index).facts[0]
    assert fact.block["valor"] == "0.10"
    shown = projection.present_block(fact.kind, fact.block)
    assert shown is not None and shown["valor"] == 0.1


def test_latest_picks_the_newest_by_business_time_then_event_id() -> None:
    facts = plan(
        [
            bureau("z-old", "2026-01-01T10:00:00Z"),
            bureau("a-new", "2026-01-01T08:00:00-0300"),  # 11:00Z
            bureau("b-tie", "2026-01-01T11:00:00Z"),
        ],
        index,
    ).facts
    (only,) = latest(facts).values()
    assert only.event_id == "b-tie"  # same instant: the greater event id wins, deterministically
    assert projection.newer(T0, "a", None, None)
    assert not projection.newer(T0, "a", T0, "b")


def test_customer_events_mark_changes_and_erasures() -> None:
    erased = customer_event(ERASED, "c1", b"\x01\x02", None)
    updated = customer_event(UPDATED, "c2", b"\x03", None)
    result = plan(
        [CanonicalEvent.from_dict(erased.payload), CanonicalEvent.from_dict(updated.payload)],
        index,
    )
    assert result.erased == [("c1", b"\x01\x02")]
    assert result.changed_customers == {"c1", "c2"}
    assert result.facts == []


class FakeStore:
    """An in-memory Base C with the same newest-wins rule as the SQL upsert."""

    def __init__(self) -> None:
        self.events: dict[str, Fact] = {}
        self.rows: dict[tuple[bytes, str], Fact] = {}

    async def record(self, facts: Sequence[Fact]) -> list[Fact]:
        fresh = [f for f in facts if f.event_id not in self.events]
        for f in fresh:
            self.events[f.event_id] = f
        for key, fact in latest(fresh).items():
            current = self.rows.get(key)
            if current is None or fact.newer_than(current.at, current.event_id):
                self.rows[key] = fact
        return fresh

    async def erase(self, cpf_indexes: Sequence[bytes]) -> None:
        for key in [k for k in self.rows if k[0] in cpf_indexes]:
            del self.rows[key]
        for event_id in [e for e, f in self.events.items() if f.cpf_index in cpf_indexes]:
            del self.events[event_id]


async def test_handler_is_idempotent_ignores_late_events_and_invalidates_scores() -> None:
    invalidated: list[set[str]] = []
    erased_b: list[list[str]] = []

    async def invalidate(ids: set[str]) -> None:
        invalidated.append(ids)

    async def erase_b(ids: list[str]) -> None:
        erased_b.append(ids)

    async def by_cpf(indexes: list[bytes]) -> dict[bytes, str]:
        return {i: "cust-1" for i in indexes if i == index(CPF)}

    handler = ActivityHandler(index, invalidate)
    store = FakeStore()

    async def deliver(events: list[CanonicalEvent]) -> set[str]:
        stale = await handler.apply(events, store, erase_b, by_cpf)
        await handler.after_commit(stale)
        return stale

    assert await deliver([bureau("new", "2026-03-01", "Nova")]) == {"cust-1"}
    assert await deliver([bureau("old", "2026-02-01", "Antiga")]) == {"cust-1"}
    assert store.rows[(index(CPF), "ultima_consulta")].block["empresa"] == "Nova"
    assert await deliver([bureau("new", "2026-03-01", "Nova")]) == set()  # redelivered: no-op
    assert len(store.events) == 2

    erased: dict[str, Any] = customer_event(ERASED, "cust-1", index(CPF), None).payload
    assert await deliver([CanonicalEvent.from_dict(erased)]) == {"cust-1"}
    assert store.rows == {} and store.events == {}
    assert erased_b == [["cust-1"]]
    assert invalidated == [{"cust-1"}, {"cust-1"}, {"cust-1"}]
