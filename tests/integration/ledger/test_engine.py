"""The posting engine against PostgreSQL: journal, balances, back-dating, idempotency,
callbacks in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import psycopg

from caudal.ledger import validation
from caudal.ledger.engine import Posting, PostingEngine
from caudal.ledger.model import Rejection
from caudal.ledger.reads import Reads
from caudal.platform.bootstrap import Container
from tests.integration.ledger.conftest import today


def posting(raw: dict[str, Any]) -> Posting:
    fields, errors = validation.check_shape(raw)
    assert fields is not None, errors
    return Posting(validation.build(fields), str(uuid.uuid4()))


async def test_seed_statement_fixture(
    engine: PostingEngine, opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    """Seed 003: credit 8, credit 1, debit 1, debit 10, credit 14 -> 8, 9, 8, -2, 12."""
    moves = [("C", "8"), ("C", "1"), ("D", "1"), ("D", "10"), ("C", "14")]
    day = today()
    outcome = await engine.post(
        [posting(make_impact(debitcredit=s, amount=a, dateref=day.isoformat())) for s, a in moves]
    )
    assert len(outcome.posted) == 5
    page = await Reads(opened.database).statement("0001", "000000001", day, day, limit=100)
    assert [i["balance"] for i in page.items] == ["8.00", "9.00", "8.00", "-2.00", "12.00"]
    assert [(i["debitcredit"], i["amount"]) for i in page.items] == [
        ("C", "8.00"),
        ("C", "1.00"),
        ("D", "1.00"),
        ("D", "10.00"),
        ("C", "14.00"),
    ]
    assert page.opening_balance == Decimal("0.00")
    balance = await Reads(opened.database).balance("0001", "000000001", day)
    assert balance is not None
    assert (balance.totaldebit, balance.totalcredit) == (Decimal("11.00"), Decimal("23.00"))
    assert balance.balance == Decimal("12.00")


async def test_statement_pages_keep_the_running_balance(
    engine: PostingEngine, opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    moves = [("C", "8"), ("C", "1"), ("D", "1"), ("D", "10"), ("C", "14")]
    day = today()
    for s, a in moves:  # one batch each: separate transactions
        await engine.post([posting(make_impact(debitcredit=s, amount=a))])
    reads = Reads(opened.database)
    balances: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await reads.statement("0001", "000000001", day, day, limit=2, cursor=cursor)
        balances += [i["balance"] for i in page.items]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3
    assert balances == ["8.00", "9.00", "8.00", "-2.00", "12.00"]


async def test_back_dated_impact_moves_every_later_day(
    engine: PostingEngine, opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    t = today()
    d = [t - timedelta(days=n) for n in (5, 3, 1, 0)]
    for day in d:
        await engine.post([posting(make_impact(amount="100", dateref=day.isoformat()))])
    # back-dated debit 4 days ago: a new day row between d[0] and d[1], later days move
    await engine.post(
        [
            posting(
                make_impact(
                    amount="30",
                    debitcredit="D",
                    eventcode=4,
                    dateref=(t - timedelta(days=4)).isoformat(),
                )
            )
        ]
    )
    reads = Reads(opened.database)
    expected = {
        t - timedelta(days=5): ("0.00", "100.00", "100.00"),
        t - timedelta(days=4): ("30.00", "0.00", "70.00"),
        t - timedelta(days=3): ("0.00", "100.00", "170.00"),
        t - timedelta(days=2): ("0.00", "0.00", "170.00"),
        t - timedelta(days=1): ("0.00", "100.00", "270.00"),
        t: ("0.00", "100.00", "370.00"),
    }
    for day, (debit, credit, bal) in expected.items():
        b = await reads.balance("0001", "000000001", day)
        assert b is not None
        assert (str(b.totaldebit), str(b.totalcredit), str(b.balance)) == (debit, credit, bal), day
    assert (await reads.balance("0001", "nobody", t)) is None
    early = await reads.balance("0001", "000000001", t - timedelta(days=9))
    assert early is not None and (early.balance, early.last_dateref) == (Decimal(0), None)


async def test_redelivery_and_duplicates_post_once(
    engine: PostingEngine, opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    p = posting(make_impact(amount="12.34"))
    first = await engine.post([p, p])
    assert (len(first.posted), first.skipped) == (1, 1)
    again = await engine.post([p])
    assert (len(again.posted), again.skipped) == (0, 1)
    b = await Reads(opened.database).balance("0001", "000000001", today())
    assert b is not None and b.balance == Decimal("12.34")
    async with opened.database.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM bus.messages WHERE topic = 'events' AND payload->>'type' = %s",
            ("ledger.posted",),
        )
        row = await cur.fetchone()
    assert row is not None and row[0] == 1


async def test_the_journal_answers_the_rows_it_inserted_with_their_createdat(
    engine: PostingEngine, opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    """`_journal` (one row per createdat, its tracekeys as a JSON array): the postings it
    inserted, in batch order, each with its journal row's `createdat`; a tracekey the journal
    already holds (a concurrent copy of the batch) is left out."""
    done = posting(make_impact(amount="1.00"))
    await engine.post([done])
    fresh = [posting(make_impact(amount=f"{n}.00")) for n in (2, 3, 4)]
    batch = [fresh[0], done, fresh[1], fresh[2]]
    async with opened.database.connection() as conn, conn.transaction():
        inserted = await engine._journal(conn, batch)
        cur = await conn.execute(
            "SELECT tracekey::text, createdat FROM ledger.transaction WHERE tracekey = ANY(%s)",
            ([p.impact.tracekey for p in fresh],),
        )
        stored = dict(await cur.fetchall())
        raise psycopg.Rollback()
    assert [p for p, _ in inserted] == fresh
    assert [at for _, at in inserted] == [stored[p.impact.tracekey] for p in fresh]


async def test_event_code_deactivated_after_acceptance_is_rejected(
    engine: PostingEngine, opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    p = posting(make_impact(eventcode=8))
    async with opened.database.connection() as conn:
        await conn.execute("UPDATE ledger.event SET active = false WHERE code = 8")
    outcome = await engine.post([p])
    assert outcome.posted == [] and [r.code for r in outcome.rejected] == [
        validation.EVENT_INACTIVE
    ]
    async with opened.database.connection() as conn:
        cur = await conn.execute(
            "SELECT payload FROM bus.messages WHERE topic = 'events' ORDER BY seq"
        )
        events = [r[0] for r in await cur.fetchall()]
    assert [(e["type"], e["source"], e["data"]["code"]) for e in events] == [
        ("ledger.rejected", "ledger", validation.EVENT_INACTIVE)
    ]
    assert (await engine.post([p])).rejected == []  # decided once


async def test_posting_rolls_back_when_the_callback_cannot_be_recorded(
    engine: PostingEngine, opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    """Seed 003: if the callback is not recorded, the posting is rolled back."""
    p = posting(make_impact(amount="5"))
    with psycopg.connect(opened.owner_url, autocommit=True) as owner:
        owner.execute("REVOKE INSERT ON bus.messages FROM caudal_runtime")
        try:
            try:
                await engine.post([p])
            except psycopg.errors.InsufficientPrivilege:
                pass
            else:
                raise AssertionError("the posting should have failed")
        finally:
            owner.execute("GRANT INSERT ON bus.messages TO caudal_runtime")
    async with opened.database.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM ledger.transaction")
        row = await cur.fetchone()
        assert row is not None and row[0] == 0
        cur = await conn.execute("SELECT count(*) FROM ledger.balance")
        row = await cur.fetchone()
        assert row is not None and row[0] == 0
    assert len((await engine.post([p])).posted) == 1


async def test_an_impact_whose_reserved_id_is_taken_is_rejected_unpostable(
    engine: PostingEngine, opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    """An impact whose reserved transaction id another tracekey holds is refused by the journal
    (a data error): it alone is rejected, with the database's reason, and the rest of its batch
    posts."""
    first = posting(make_impact(amount="1.00"))
    await engine.post([first])
    taken = Posting(posting(make_impact(amount="2.00")).impact, first.transaction_id)
    other = posting(make_impact(amount="3.00"))
    outcome = await engine.post([taken, other])
    assert [p.impact.tracekey for p, _ in outcome.posted] == [other.impact.tracekey]
    assert [(r.tracekey, r.code) for r in outcome.rejected] == [
        (taken.impact.tracekey, "CAU-LEDGER-UNPOSTABLE")
    ]
    assert "duplicate key" in outcome.rejected[0].reason
    b = await Reads(opened.database).balance("0001", "000000001", today())
    assert b is not None and b.balance == Decimal("4.00")


async def test_a_deadlocked_batch_is_retried_by_the_engine(
    opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    """A deadlock (a psycopg `OperationalError`) is retried inside the connection's block: the
    pool would have reported it as `DatabaseUnavailable` once out of it, past the retry. The
    rolled-back attempt leaves nothing behind: the batch posts once."""

    class DeadlockOnce(PostingEngine):
        failures = 1

        async def _callbacks(self, conn: Any, outcome: Any, impacts: Any) -> None:
            await super()._callbacks(conn, outcome, impacts)
            if self.failures:
                self.failures -= 1
                raise psycopg.errors.DeadlockDetected("deadlock detected")

    p = posting(make_impact(amount="7.00"))
    outcome = await DeadlockOnce(opened.database, opened.bus).post([p])
    assert [q.impact.tracekey for q, _ in outcome.posted] == [p.impact.tracekey]
    b = await Reads(opened.database).balance("0001", "000000001", today())
    assert b is not None and b.balance == Decimal("7.00")
    async with opened.database.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM bus.messages WHERE topic = 'events'"
            " AND payload->>'trace_key' = %s",
            (p.impact.tracekey,),
        )
        row = await cur.fetchone()
        assert row is not None and row[0] == 1


async def test_an_unreadable_copy_beside_a_readable_one_is_skipped_not_rejected(
    engine: PostingEngine, opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    """One decision per tracekey even when a batch holds it twice, once unreadable: the
    readable copy posts, the other is skipped (never a `ledger.rejected` beside the posting),
    in a batch and in a batch posted impact by impact after a data error."""
    batched, isolated = posting(make_impact(amount="5.00")), posting(make_impact(amount="7.00"))

    def unreadable(p: Posting) -> Rejection:
        return Rejection(p.impact.tracekey, "CAU-LEDGER-MALFORMED", "unreadable impact: test")

    outcome = await engine.post([batched], [unreadable(batched)])
    assert (len(outcome.posted), outcome.rejected, outcome.skipped) == (1, [], 1)
    async with opened.database.connection() as conn, conn.transaction():
        outcome = await engine.post_isolating(conn, [isolated], [unreadable(isolated)])
    assert (len(outcome.posted), outcome.rejected, outcome.skipped) == (1, [], 1)
    async with opened.database.connection() as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM ledger.transaction WHERE tracekey = ANY(%(k)s)),"
            " (SELECT count(*) FROM ledger.rejection WHERE tracekey = ANY(%(k)s)),"
            " (SELECT count(*) FROM bus.messages WHERE payload->>'type' = 'ledger.rejected')",
            {"k": [batched.impact.tracekey, isolated.impact.tracekey]},
        )
        assert await cur.fetchone() == (2, 0, 0)
