"""Seed 003's integration test and availability: impacts through the bus, workers stopped and
restarted, every tracekey decided, statements checked against the model."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import httpx
import psycopg

from caudal.ledger.reconcile import Reconciler
from caudal.platform.bootstrap import Container
from tests.integration.ledger.conftest import posting_workers, today, wait_decided
from tests.integration.ledger.model import Model, stored_balances

Auth = Callable[..., dict[str, str]]


def impacts(rng: random.Random, count: int, accounts: int) -> list[dict[str, str | int]]:
    t = today()
    out: list[dict[str, str | int]] = []
    for _ in range(count):
        out.append(
            {
                "tracekey": str(uuid.UUID(int=rng.getrandbits(128))),
                "branch": "0042",
                "account": f"{rng.randrange(accounts):09d}",
                "amount": f"{rng.randint(1, 99_999) / 100:.2f}",
                "debitcredit": rng.choice("DC"),
                "eventcode": 5,
                "dateref": (t - timedelta(days=rng.randint(0, 6))).isoformat(),
            }
        )
    return out


async def test_seed_integration_1000_impacts_through_the_queue(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    """Seed 003: save the balances, queue 1,000 impacts, wait for every tracekey, check the
    statements of the accounts and dates involved."""
    rng = random.Random(3)
    batch = impacts(rng, 1000, accounts=25)
    h = auth("ledger:write", "ledger:read")
    for start in range(0, 1000, 250):
        r = await client.post("/v1/ledger/impacts", json=batch[start : start + 250], headers=h)
        assert r.status_code == 202 and r.json()["counts"] == {"pending": 250}
    async with posting_workers(container, count=2):
        await wait_decided(container, [str(i["tracekey"]) for i in batch])
    model = Model()
    for i in batch:
        model.post(
            str(i["tracekey"]),
            "0042",
            str(i["account"]),
            _d(i["dateref"]),
            str(i["debitcredit"]),
            str(i["amount"]),
        )
    expected = model.balances()
    t = today()
    for account in sorted({str(i["account"]) for i in batch}):
        url = f"/v1/ledger/accounts/0042/{account}/statement?from={t - timedelta(days=6)}&to={t}"
        items = (await client.get(url + "&limit=1000", headers=h)).json()["items"]
        mine = [i for i in batch if i["account"] == account]
        assert sorted(i["tracekey"] for i in items) == sorted(str(i["tracekey"]) for i in mine)
        running = Decimal(0)
        for item in items:  # each running balance follows from the previous one
            signed = Decimal(item["amount"]) * (1 if item["debitcredit"] == "C" else -1)
            running += signed
            assert Decimal(item["balance"]) == running
        last_day = max(k for k in expected if k[1] == account)
        _, _, acc_d, acc_c = expected[last_day]
        assert running == acc_c - acc_d
    async with container.database.connection() as conn:
        assert await stored_balances(conn) == expected
    assert await Reconciler(container.database).differences() == []


def _d(value: object) -> date:
    return date.fromisoformat(str(value))


async def test_entries_stay_available_with_every_worker_stopped(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    """The entries API answers 202 while no posting worker runs; reads answer too; postings
    catch up when workers return."""
    container.settings.ledger.consolidated_cache_seconds = 0  # every read hits the database
    rng = random.Random(5)
    h = auth("ledger:write", "ledger:read")
    first = impacts(rng, 50, accounts=3)
    async with posting_workers(container):
        r = await client.post("/v1/ledger/impacts", json=first, headers=h)
        assert r.status_code == 202
        await wait_decided(container, [str(i["tracekey"]) for i in first])
    before = (await client.get("/v1/ledger/consolidated", headers=h)).json()["items"]

    # every worker stopped: impacts are still accepted, reads still answer (unchanged)
    second = impacts(rng, 200, accounts=3)
    for start in range(0, 200, 50):
        r = await client.post("/v1/ledger/impacts", json=second[start : start + 50], headers=h)
        assert r.status_code == 202 and r.json()["counts"] == {"pending": 50}
    states = [
        (await client.get(f"/v1/ledger/impacts/{i['tracekey']}", headers=h)).json()["status"]
        for i in second[:5]
    ]
    assert states == ["pending"] * 5
    assert (await client.get("/v1/ledger/consolidated", headers=h)).json()["items"] == before

    # workers return: everything is posted, balances exact
    async with posting_workers(container, count=2):
        await wait_decided(container, [str(i["tracekey"]) for i in second])
    model = Model()
    for i in first + second:
        model.post(
            str(i["tracekey"]),
            "0042",
            str(i["account"]),
            _d(i["dateref"]),
            str(i["debitcredit"]),
            str(i["amount"]),
        )
    async with container.database.connection() as conn:
        assert await stored_balances(conn) == model.balances()
    status = (await client.get(f"/v1/ledger/impacts/{second[0]['tracekey']}", headers=h)).json()
    assert status["status"] == "posted"


async def test_reads_and_entries_never_wait_on_a_posting_in_progress(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    """A posting transaction holds the account lock and has updated the balances but not yet
    committed: reads answer at once (the committed values) and new impacts are accepted."""
    container.settings.ledger.consolidated_cache_seconds = 0
    rng = random.Random(9)
    h = auth("ledger:write", "ledger:read")
    first = impacts(rng, 20, accounts=1)
    async with posting_workers(container):
        await client.post("/v1/ledger/impacts", json=first, headers=h)
        await wait_decided(container, [str(i["tracekey"]) for i in first])
    account = str(first[0]["account"])
    base = f"/v1/ledger/accounts/0042/{account}"
    before = (await client.get(f"{base}/balance", headers=h)).json()
    with psycopg.connect(container.owner_url) as writer:  # a posting caught mid-transaction
        writer.execute("SELECT 1 FROM ledger.account FOR UPDATE")
        writer.execute("UPDATE ledger.balance SET acumulatedcredit = acumulatedcredit + 1000")
        writer.execute("LOCK TABLE ledger.transaction IN ROW EXCLUSIVE MODE")
        for path in (f"{base}/balance", f"{base}/statement", "/v1/ledger/consolidated"):
            r = await asyncio.wait_for(client.get(path, headers=h), 5)
            assert r.status_code == 200, path
        assert (await client.get(f"{base}/balance", headers=h)).json() == before
        more = impacts(rng, 10, accounts=1)
        r = await asyncio.wait_for(client.post("/v1/ledger/impacts", json=more, headers=h), 5)
        assert r.status_code == 202 and r.json()["counts"] == {"pending": 10}
        writer.rollback()
