"""Randomised property test against the in-memory model: thousands of impacts on a few accounts
(one of them hot), back-dated ones, duplicates and redeliveries, several workers posting the same
accounts at once. Every balance exact to the cent; reconciliation finds zero differences."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from decimal import Decimal

import msgspec

from caudal.ledger.engine import Posting, PostingEngine
from caudal.ledger.model import Impact
from caudal.ledger.reads import Reads
from caudal.ledger.reconcile import Reconciler
from caudal.platform.bootstrap import Container
from caudal.platform.db.pool import Database
from tests.integration.ledger.conftest import today
from tests.integration.ledger.model import Model, stored_balances

SEED = 20240316
IMPACTS = 3000
WORKERS = 4


def generate(rng: random.Random) -> list[Posting]:
    t = today()
    accounts = [("0001", "HOT")] + [(f"{b:04d}", f"{a:09d}") for b in (1, 2) for a in range(6)]
    out = []
    for _ in range(IMPACTS):
        branch, account = accounts[0] if rng.random() < 0.4 else rng.choice(accounts[1:])
        side = rng.choice("DC")
        out.append(
            Posting(
                Impact(
                    tracekey=str(uuid.UUID(int=rng.getrandbits(128))),
                    branch=branch,
                    account=account,
                    amount=Decimal(rng.randint(1, 500_000)) / 100,
                    debitcredit="D" if side == "D" else "C",
                    eventcode=5,
                    dateref=t - timedelta(days=rng.randint(0, 7)),
                ),
                str(uuid.UUID(int=rng.getrandbits(128))),
            )
        )
    return out


async def test_concurrent_workers_keep_every_balance_exact(opened: Container) -> None:
    rng = random.Random(SEED)
    postings = generate(rng)
    # deliveries: every impact once, 15% of them again (redeliveries), in random batches
    deliveries = postings + rng.sample(postings, len(postings) * 15 // 100)
    rng.shuffle(deliveries)
    batches: list[list[Posting]] = []
    i = 0
    while i < len(deliveries):
        size = rng.randint(1, 250)
        batches.append(deliveries[i : i + size])
        i += size
    # the same batch handed to two workers at once (a lease taken over mid-batch)
    batches += rng.sample(batches, 5)
    rng.shuffle(batches)

    database = Database(opened.app_url, min_size=WORKERS, max_size=WORKERS)
    await database.open()
    try:
        engine = PostingEngine(database, opened.bus)
        queue: asyncio.Queue[list[Posting]] = asyncio.Queue()
        for batch in batches:
            queue.put_nowait(batch)

        async def worker() -> int:
            posted = 0
            while not queue.empty():
                outcome = await engine.post(queue.get_nowait())
                posted += len(outcome.posted)
            return posted

        counts = await asyncio.gather(*(worker() for _ in range(WORKERS)))
    finally:
        await database.close()

    assert sum(counts) == IMPACTS  # each impact posted exactly once
    model = Model()
    for p in postings:
        i = p.impact
        model.post(i.tracekey, i.branch, i.account, i.dateref, i.debitcredit, str(i.amount))
    async with opened.database.connection() as conn:
        stored = await stored_balances(conn)
        cur = await conn.execute("SELECT count(*) FROM ledger.transaction")
        row = await cur.fetchone()
    assert row is not None and row[0] == IMPACTS
    assert stored == model.balances()
    # the statement's last running balance is the account's balance
    reads = Reads(opened.database)
    t = today()
    last = (await reads.statement("0001", "HOT", t - timedelta(days=7), t, limit=100_000)).items
    expected = model.balances()
    final = max(k for k in expected if k[:2] == ("0001", "HOT"))
    assert Decimal(last[-1]["balance"]) == expected[final][3] - expected[final][2]
    assert await Reconciler(opened.database).differences() == []


async def test_a_tracekey_posted_and_rejected_at_once_is_decided_once(opened: Container) -> None:
    """Three batches hold the same tracekeys at the same time: twice as valid impacts (a lease
    taken over mid-batch: the same reserved ids), once as impacts their event code refuses (a
    redelivery after the code changed would look like this). The account locks come first, so
    whichever batch takes them second sees the first one's decisions and skips them. Every
    tracekey ends posted or rejected, never both, with exactly one callback; the balances hold
    exactly the posted ones."""
    rng = random.Random(SEED + 1)
    t = today()
    accounts = [("0003", f"{a:09d}") for a in range(5)]
    database = Database(opened.app_url, min_size=3, max_size=3)
    await database.open()
    model = Model()
    tracekeys: list[str] = []
    try:
        engine = PostingEngine(database, opened.bus)
        for _ in range(20):
            valid: list[Posting] = []
            refused: list[Posting] = []
            for _ in range(50):
                branch, account = rng.choice(accounts)
                tracekey = str(uuid.UUID(int=rng.getrandbits(128)))
                amount = Decimal(rng.randint(1, 500_000)) / 100
                day = t - timedelta(days=rng.randint(0, 3))
                impact = Impact(tracekey, branch, account, amount, "D", 5, day)
                valid.append(Posting(impact, str(uuid.UUID(int=rng.getrandbits(128)))))
                # event code 1 (cash sale) takes no debit: rejected if this copy decides
                refused.append(Posting(msgspec.structs.replace(impact, eventcode=1), "x"))
                tracekeys.append(tracekey)
            first, second, again = await asyncio.gather(
                engine.post(valid), engine.post(refused), engine.post(list(valid))
            )
            assert len(first.posted) + len(again.posted) + len(second.rejected) == len(valid)
            for p, _ in first.posted + again.posted:
                i = p.impact
                model.post(i.tracekey, i.branch, i.account, i.dateref, "D", str(i.amount))
    finally:
        await database.close()

    async with opened.database.connection() as conn:
        cur = await conn.execute(
            "SELECT k::text, (SELECT count(*) FROM ledger.transaction WHERE tracekey = k)"
            " + (SELECT count(*) FROM ledger.rejection WHERE tracekey = k),"
            " (SELECT count(*) FROM bus.messages WHERE topic = 'events'"
            "  AND payload->>'trace_key' = k::text)"
            " FROM unnest(%s::uuid[]) AS k",
            (tracekeys,),
        )
        decisions = {row[0]: (row[1], row[2]) for row in await cur.fetchall()}
        stored = await stored_balances(conn)
    assert set(decisions.values()) == {(1, 1)}
    assert stored == model.balances()
    assert await Reconciler(opened.database).differences() == []
