"""A poison value does not stall the ledger: an impact that overflows its account's balance
(numeric(15,2)) is rejected at once with a code and a `ledger.rejected` callback, and the other
accounts of its partition post as usual (issue 10)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from caudal.bus.codec import partition_of
from caudal.ledger.reconcile import Reconciler
from caudal.platform.bootstrap import Container
from tests.integration.ledger.conftest import posting_workers, wait_decided

Auth = Callable[..., dict[str, str]]


def neighbours(account: str, partitions: int, count: int) -> list[str]:
    """Accounts of branch 0001 on the same bus partition as `account` (ordered together)."""
    target = partition_of(f"0001/{account}", partitions)
    found = []
    n = 0
    while len(found) < count:
        n += 1
        candidate = f"{n:09d}"
        if candidate != account and partition_of(f"0001/{candidate}", partitions) == target:
            found.append(candidate)
    return found


async def test_an_overflowing_impact_is_rejected_at_once_and_its_partition_flows_on(
    client: httpx.AsyncClient,
    auth: Auth,
    opened: Container,
    make_impact: Callable[..., dict[str, Any]],
) -> None:
    h = auth("ledger:write", "ledger:read")
    poisoned = "000000777"
    others = neighbours(poisoned, opened.settings.bus.partitions, 3)
    huge = make_impact(account=poisoned, amount="9999999999999.99")
    poison = make_impact(account=poisoned, amount="12.00")
    after = [make_impact(account=a, amount="1.50") for a in others for _ in range(2)]
    after.append(make_impact(account=poisoned, amount="0.01"))  # credits overflow from now on
    batch = [huge, poison, *after]
    accepted = await client.post("/v1/ledger/impacts", json=batch, headers=h)
    assert accepted.status_code == 202, accepted.text
    started = time.monotonic()
    async with posting_workers(opened):
        await wait_decided(opened, [i["tracekey"] for i in batch], seconds=30)
    decided_in = time.monotonic() - started

    states = {}
    for impact in batch:
        r = await client.get(f"/v1/ledger/impacts/{impact['tracekey']}", headers=h)
        states[impact["tracekey"]] = r.json()
    assert states[huge["tracekey"]]["status"] == "posted"
    rejected = states[poison["tracekey"]]
    assert (rejected["status"], rejected["code"]) == ("rejected", "CAU-LEDGER-UNPOSTABLE")
    assert rejected["reason"].startswith("the account's balance would exceed 9999999999999.99")
    assert states[after[-1]["tracekey"]]["code"] == "CAU-LEDGER-UNPOSTABLE"
    assert [states[i["tracekey"]]["status"] for i in after[:-1]] == ["posted"] * 6

    async with opened.database.connection() as conn:
        cur = await conn.execute(
            "SELECT payload->'data'->>'tracekey', payload->'data'->>'code',"
            " payload->'data'->>'amount' FROM bus.messages"
            " WHERE topic = 'events' AND payload->>'type' = 'ledger.rejected' ORDER BY seq"
        )
        callbacks = await cur.fetchall()
        cur = await conn.execute(
            "SELECT attempts, last_error FROM bus.offsets WHERE group_name = 'ledger-posting'"
            " AND (attempts > 0 OR last_error IS NOT NULL)"
        )
        retried = await cur.fetchall()
    assert callbacks == [
        (poison["tracekey"], "CAU-LEDGER-UNPOSTABLE", "12.00"),
        (after[-1]["tracekey"], "CAU-LEDGER-UNPOSTABLE", "0.01"),
    ]
    assert retried == []  # the bus never saw a failure: nothing retried, nothing dead-lettered
    assert await opened.bus.dead_letters() == []
    assert await Reconciler(opened.database).differences() == []  # balances = journal
    print(f"poison pair decided in {decided_in:.2f} s")  # the target: < 2 s
