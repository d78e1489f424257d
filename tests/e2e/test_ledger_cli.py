"""The ledger as a user runs it: `caudal up` accepts impacts (caudal's API and FlowApi's), its
worker posts them through the bus, balances and statements read back; `caudal ledger reconcile`
finds nothing to fix."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.e2e.conftest import Server, caudal


def test_post_through_caudal_up_then_reconcile(home: Path, start_server: type[Server]) -> None:
    server = start_server()
    server.wait_ready()
    h = {"Authorization": f"Bearer {server.admin_token()}"}
    today = datetime.now(UTC).date().isoformat()
    moves = [("C", "8"), ("C", "1"), ("D", "1"), ("D", "10"), ("C", "14")]
    keys = [str(uuid.uuid4()) for _ in moves]
    batch = [
        {
            "tracekey": key,
            "branch": "0001",
            "account": "E2E",
            "amount": amount,
            "debitcredit": side,
            "eventcode": 5,
            "dateref": today,
        }
        for key, (side, amount) in zip(keys, moves, strict=True)
    ]
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
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [
                http.get(f"/v1/ledger/impacts/{k}").json()["status"] for k in [*keys, flow_key]
            ]
            if all(s == "posted" for s in states):
                break
            time.sleep(0.2)
        assert states == ["posted"] * 6
        statement = http.get(f"/v1/ledger/accounts/0001/E2E/statement?from={today}&to={today}")
        assert [i["balance"] for i in statement.json()["items"]] == [
            "8.00",
            "9.00",
            "8.00",
            "-2.00",
            "12.00",
            "12.50",
        ]
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
