"""The `customers.activity` sink: Base C projections, and Base B/C handling of Base A's events.

Routed here (routes.yaml): `bureau-query`, `financial-movement`, `card-purchase` (Base C
projections; a new bureau query changes the score) and `customers.*` (erasure deletes the B and
C rows; any change invalidates the cached score). Idempotent on event id.

Behind the erasure barrier (`events/erasure_barrier.py`): a batch leaves out the events received
before the erasure of a token they hold (never `customers.erased` itself), checked in its own
transaction; a batch that erases records its tokens first (`DerivedCopies.bar`) and deletes
their copies after that transaction, never while it holds the barrier lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

import structlog

from caudal.customers import events as customer_events
from caudal.customers.base_b import store as base_b_store
from caudal.customers.base_c import projection
from caudal.customers.base_c.store import ActivityStore, PostgresActivityStore
from caudal.customers.context import Customers
from caudal.events import erasure_barrier
from caudal.events.erasure_barrier import ErasedTokens
from caudal.events.erasure_barrier_postgres import PostgresErasedTokens, Recorded
from caudal.events.model import CanonicalEvent
from caudal.platform.db.pool import AsyncConn

_log = structlog.get_logger("caudal.customers.activity")

NAME = "customers.activity"


class ActivityHandler:
    """The sink's logic over ports, so it runs against fakes in unit tests."""

    def __init__(
        self,
        cpf_index: Callable[[str], bytes],
        invalidate: Callable[[set[str]], Awaitable[None]],
    ) -> None:
        self._cpf_index = cpf_index
        self._invalidate = invalidate

    async def apply(
        self,
        events: Sequence[CanonicalEvent],
        store: ActivityStore,
        erase_score_data: Callable[[list[str]], Awaitable[None]],
        customers_by_cpf: Callable[[list[bytes]], Awaitable[dict[bytes, str]]],
    ) -> set[str]:
        """Apply a batch inside the caller's transaction; returns the customers whose score
        must be invalidated once it commits."""
        plan = projection.plan(events, self._cpf_index)
        for event_id in plan.rejected:
            _log.warning("activity_event_without_valid_cpf", event_id=event_id)
        fresh = await store.record(plan.facts)
        stale = set(plan.changed_customers)
        queried = sorted({f.cpf_index for f in fresh if f.kind.event_type == "bureau-query"})
        if queried:
            stale |= set((await customers_by_cpf(queried)).values())
        if plan.erased:
            await erase_score_data([customer for customer, _ in plan.erased])
            await store.erase([index for _, index in plan.erased if index is not None])
        return stale

    async def after_commit(self, stale: set[str]) -> None:
        if stale:
            await self._invalidate(stale)


def erased_tokens(events: Sequence[CanonicalEvent]) -> dict[str, datetime]:
    """The CPF tokens of the customers erased in this batch, each with its erasure's time: the
    notice's `received_at` (set by the server that erased, never by a client), so a notice
    handled again counts from its erasure, not from now."""
    erased: dict[str, datetime] = {}
    for e in events:
        if customer_events.is_erasure_notice(e) and e.data.get("cpf_index"):
            token = str(e.data["cpf_index"])
            erased[token] = max(e.received_at, erased.get(token, e.received_at))
    return erased


def not_erased(
    events: Sequence[CanonicalEvent],
    erased: erasure_barrier.Erased,
    cpf_index: Callable[[str], bytes],
) -> Sequence[CanonicalEvent]:
    """The batch less what the erasure barrier holds back, by the tokens its data holds and by
    the one Base C files it under (an event from before tokenization, still on the bus or
    replayed, carries the CPF itself); erasure notices always pass."""
    if not erased:
        return events
    return [
        e
        for e in events
        if customer_events.is_erasure_notice(e)
        or not (erasure_barrier.holds_erased(e, erased) or _filed_erased(e, erased, cpf_index))
    ]


def _filed_erased(
    event: CanonicalEvent, erased: erasure_barrier.Erased, cpf_index: Callable[[str], bytes]
) -> bool:
    token = _filed_under(event, cpf_index)
    return token is not None and erasure_barrier.erased_before(event, token, erased)


def _filed_under(event: CanonicalEvent, cpf_index: Callable[[str], bytes]) -> str | None:
    if event.type not in projection.KINDS:
        return None
    try:
        return projection.cpf_index_of(event.data.get("cpf"), cpf_index).hex()
    except ValueError:  # the projection rejects it
        return None


def candidates(events: Sequence[CanonicalEvent], cpf_index: Callable[[str], bytes]) -> set[str]:
    """Every token the barrier may hold the batch's events back by (after a mass erasure)."""
    filed = {_filed_under(e, cpf_index) for e in events}
    return erasure_barrier.windows(events) | {t for t in filed if t is not None}


class CustomersActivitySink:
    name = NAME

    def __init__(self, customers: Customers, erased: ErasedTokens | None = None) -> None:
        self._customers = customers
        self._handler = ActivityHandler(customers.vault.cpf_index, customers.cache.invalidate)
        self._erased = erased or PostgresErasedTokens()

    async def write(self, events: Sequence[CanonicalEvent]) -> None:
        tokens = erased_tokens(events)
        copies = self._customers.copies
        async with self._customers.database.connection() as conn:
            recorded = await copies.bar(conn, tokens)
            bounds = {bytes.fromhex(t): r for t, r in recorded.items()}
            async with conn.transaction():
                erased = await self._erased.since(
                    conn,
                    erasure_barrier.horizon(events),
                    lambda: candidates(events, self._customers.vault.cpf_index),
                )
                kept = not_erased(events, erased, self._customers.vault.cpf_index)
                stale = await self._apply(conn, kept, bounds)
            if recorded:
                # Not under the barrier lock: a second erasure's record would wait for these
                # scans, and every sink write queued behind it. Redelivered after a crash:
                # idempotent. (No erasure in the batch, the common case: no round trip here.)
                async with conn.transaction():
                    await copies.erase_in_database(conn, recorded)
                await copies.erase_lake(conn, recorded)
        await self._handler.after_commit(stale)

    async def _apply(
        self,
        conn: AsyncConn,
        events: Sequence[CanonicalEvent],
        recorded: Mapping[bytes, Recorded],
    ) -> set[str]:
        from caudal.customers.base_a import store as base_a_store

        async def erase_b(ids: list[str]) -> None:
            await base_b_store.erase(conn, ids)

        async def by_cpf(indexes: list[bytes]) -> dict[bytes, str]:
            return await base_a_store.ids_by_cpf(conn, indexes)

        return await self._handler.apply(
            events, PostgresActivityStore(conn, recorded), erase_b, by_cpf
        )
