"""The ledger as a user runs it: `caudal up` accepts impacts (caudal's API and FlowApi's), its
worker posts them through the bus, balances and statements read back; `caudal ledger reconcile`
finds nothing to fix."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, caudal
from tests.support.ledger import SEED_BALANCES, seed_impacts, statement_balances, wait_posted


@pytest.mark.migrated_home  # not about a home's first start
def test_post_through_caudal_up_then_reconcile(home: Path, start_server: type[Server]) -> None:
    server = start_server()
    server.wait_ready()
    h = {"Authorization": f"Bearer {server.admin_token()}"}
    today = datetime.now(UTC).date().isoformat()
    keys, batch = seed_impacts("E2E", today)
    with httpx.Client(base_url=server.base_url, headers=h, timeout=10) as http:
        accepted = http.post("/v1/ledger/impacts", json=batch)
        assert accepted.status_code == 202 and accepted.json()["counts"] == {"pending": 5}
        flow_key = str(uuid.uuid4())
        put = http.put(
            "/api/Transaction/AddTransactionAsync",
            params={
                "Branch": "0001",
                "Account": "E2E",
                "Amount": "0.50",
                "DebitCredit": "C",
                "EventCode": 1,
                "TraceKey": flow_key,
                "DateRef": today,
            },
        )
        assert put.status_code == 202 and put.json()["traceKey"] == flow_key
        assert wait_posted(http, [*keys, flow_key]) == ["posted"] * 6
        assert statement_balances(http, "E2E", today) == [*SEED_BALANCES, "12.50"]
        flow = http.get(
            "/api/Balance/GetBalanceAsync",
            params={"Branch": "0001", "Account": "E2E", "DateRefStart": today, "DateRefEnd": today},
        )
        assert flow.status_code == 200 and flow.json()[0]["acumulatedBalance"] == 12.5
    assert server.stop() == 0
    reconciled = caudal("ledger", "reconcile", home=home)
    assert reconciled.returncode == 0, reconciled.stderr
    assert "0 difference(s)" in reconciled.stdout


def test_reconcile_refuses_from_after_to(home: Path) -> None:
    refused = caudal("ledger", "reconcile", "--from", "2024-03-17", "--to", "2024-03-16", home=home)
    assert refused.returncode == 2
    assert "--from 2024-03-17 is after --to 2024-03-16" in refused.stderr
