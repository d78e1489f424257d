"""The events CLI beside `caudal up`: quarantine list/replay, lake sql/flush/compact."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, caudal

FAST = {"CAUDAL_LAKE__FLUSH_MAX_SECONDS": "3600", "CAUDAL_BUS__POLL_INTERVAL_SECONDS": "0.2"}
LOAN = {
    "eventType": "loan-approved",
    "eventDateTime": "2024-03-01T12:00:00-03:00",
    "version": "1.0",
    "data": {"cpf": "52998224725", "valor": "1500.00"},
}
SCHEMA = {
    "type": "loan-approved",
    "version": "1.0",
    "source": "backend",
    "schema": {
        "type": "object",
        "properties": {
            "cpf": {"type": "string", "x-caudal-pii": "cpf"},
            "valor": {"type": "string"},
        },
        "required": ["cpf", "valor"],
    },
}


@pytest.mark.migrated_home  # not about a home's first start
def test_quarantine_replay_and_lake_commands(home: Path, start_server: type[Server]) -> None:
    server = start_server(**FAST)
    server.wait_ready()
    headers = {"Authorization": f"Bearer {server.admin_token()}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as http:
        refused = http.post("/v1/events/backend", json=LOAN)
        assert refused.status_code == 422
        quarantine_id = refused.json()["rejected"][0]["quarantine_id"]

        listed = caudal(
            "quarantine", "list", "--status", "held", "--format", "json", home=home, **FAST
        )
        assert listed.returncode == 0, listed.stderr
        [entry] = [json.loads(line) for line in listed.stdout.splitlines()]
        assert (entry["id"], entry["reason"], entry["type"], entry["status"]) == (
            quarantine_id,
            "unknown_type",
            "loan-approved",
            "held",
        )
        early = caudal("quarantine", "replay", home=home, **FAST)
        assert early.returncode == 0
        assert "0 replayed" in early.stdout and "1 still invalid" in early.stdout
        assert "POST /v1/schemas" in early.stderr  # says what to do next

        assert http.post("/v1/schemas", json=SCHEMA).status_code == 201
        replayed = caudal("quarantine", "replay", "--type", "loan-approved", home=home, **FAST)
        assert replayed.returncode == 0, replayed.stderr
        assert "1 replayed" in replayed.stdout

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = http.get("/v1/monitor/events", params={"type": "loan-approved"}).json()
            if found["items"]:
                break
            time.sleep(0.2)
        assert [i["id"] for i in found["items"]] == [quarantine_id]
        assert (
            http.post("/v1/events/backend", json={**LOAN, "eventId": "second"}).status_code == 202
        )

    # The lake sink holds small deliveries (flush age is an hour here) until `lake flush`.
    flushed = caudal("lake", "flush", home=home, **FAST)
    assert flushed.returncode == 0, flushed.stderr
    assert "2 event(s) written in" in flushed.stdout
    sql = caudal(
        "lake",
        "sql",
        "SELECT id, type, occurred_at, data->>'valor' AS valor, dt FROM backend.\"loan-approved\" "
        "ORDER BY id",
        "--format",
        "json",
        home=home,
    )
    assert sql.returncode == 0, sql.stderr
    rows = [json.loads(line) for line in sql.stdout.splitlines()]
    assert len(rows) == 2
    assert quarantine_id in {r["id"] for r in rows}
    assert {(r["occurred_at"], r["valor"], r["dt"]) for r in rows} == {
        ("2024-03-01 15:00:00+00:00", "1500.00", "2024-03-01")
    }
    compacted = caudal("lake", "compact", "--date", "2024-03-01", home=home, **FAST)
    assert compacted.returncode == 0, compacted.stderr
    # Both events usually land in one file (one window of bus offsets): nothing to merge; on
    # two bus partitions, two files that stay apart; in two windows, two files merged into one.
    assert (
        "1 partition(s) compacted: 2 file(s) -> 1, 2 row(s) -> 2" in compacted.stdout
        or "0 partition(s) compacted" in compacted.stdout
    ), compacted.stdout
    bad = caudal("lake", "compact", "--date", "yesterday", home=home)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    broken = caudal("lake", "sql", "SELEC 1", home=home)
    assert broken.returncode == 1 and "query failed" in broken.stderr
    assert server.stop() == 0
