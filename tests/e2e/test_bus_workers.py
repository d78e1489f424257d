"""Scaling out with `caudal worker` processes, as a user does it, on each bus backend (PostgreSQL,
and NATS JetStream on a private nats-server): a second worker takes half the partitions,
stopping it (SIGTERM) or killing it (kill -9) hands them back, every event reaches the lake once;
a worker killed while ledger impacts flow through the transactional outbox (on NATS: the process
running the outbox relay) loses and repeats nothing; and the embedded PostgreSQL stops with the
last process even after a kill -9."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import caudal
from tests.support.nats import BusBackend, bus_backend
from tests.support.processes import FAST_ENV, Fleet, fleet, postmasters

pytestmark = pytest.mark.e2e

__all__ = ["bus_backend", "fleet"]


def groups(fleet: Fleet) -> dict[str, dict[str, Any]]:
    status = caudal("bus", "status", "--json", home=fleet.home, **fleet.env)
    assert status.returncode == 0, status.stderr
    return {g["group"]: g for g in orjson.loads(status.stdout)}


def wait_groups(fleet: Fleet, workers: int, what: str, timeout: float = 60) -> dict[str, Any]:
    """Until every group has `workers` live workers holding all its partitions."""
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = groups(fleet)
        if seen and all(
            g["workers"] == workers and g["partitions_held"] == g["partitions"]
            for g in seen.values()
        ):
            return seen
        time.sleep(0.3)
    raise AssertionError(f"{what}: {seen}")


def lake_ids(home: Path) -> list[str]:
    ids: list[str] = []
    for path in sorted((home / "lake").glob("*/*/dt=*/*.parquet")):
        ids += pq.read_table(path, columns=["id"]).column("id").to_pylist()
    return ids


def token(home: Path, *scopes: str) -> str:
    minted = caudal("token", *(a for s in scopes for a in ("--scope", s)), home=home)
    assert minted.returncode == 0, minted.stderr
    return minted.stdout.strip()


def post_events(base: str, home: Path, count: int) -> list[str]:
    accepted: list[str] = []
    with httpx.Client(
        base_url=base,
        headers={"Authorization": f"Bearer {token(home, 'events:write')}"},
        timeout=30,
    ) as http:
        for n in range(count):  # one device each: spread over every partition
            body = {
                "device": {"platform": "Android", "deviceId": f"dev-{n}"},
                "data": [{"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_button"}],
            }
            response = http.post("/v1/events/frontend", json=body)
            assert response.status_code == 202, response.text
            accepted += [a["id"] for a in response.json()["accepted"]]
    return accepted


def wait_lake(home: Path, accepted: list[str], timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    rows = lake_ids(home)
    while len(rows) < len(accepted) and time.monotonic() < deadline:
        time.sleep(0.3)
        rows = lake_ids(home)
    time.sleep(1.0)  # anything duplicated late would show up now
    return lake_ids(home)


@pytest.mark.parametrize("how", ["sigterm", "kill-9"])
def test_a_second_worker_that_goes_away_hands_its_partitions_back(
    bus_backend: BusBackend, fleet: Fleet, how: str
) -> None:
    fleet.env.update(FAST_ENV, **bus_backend.env)
    base = fleet.api()
    fleet.start("worker")
    wait_groups(fleet, 1, "one worker holds everything")
    second = fleet.start("worker")
    shared = wait_groups(fleet, 2, "two workers share the partitions")
    assert shared["lake"]["partitions"] == 16
    if how == "sigterm":
        assert fleet.terminate(second) == 0  # releases its leases on the way out
    else:
        fleet.kill(second)  # its leases expire after CAUDAL_BUS__LEASE_SECONDS
    accepted = post_events(base, fleet.home, 64)
    rows = wait_lake(fleet.home, accepted)
    assert sorted(rows) == sorted(accepted)  # 64/64, each once
    after = wait_groups(fleet, 1, "the first worker holds everything again")
    assert {g: (s["partitions_held"], s["lag"]) for g, s in after.items()} == {
        g: (16, 0) for g in after
    }


def ledger_lake_rows(home: Path) -> list[tuple[str, str]]:
    """(trace key, type) of every ledger callback event in the lake."""
    rows: list[tuple[str, str]] = []
    for path in sorted((home / "lake").glob("*/*/dt=*/*.parquet")):
        table = pq.read_table(path, columns=["source", "trace_key", "type"]).to_pylist()
        rows += [(r["trace_key"], r["type"]) for r in table if r["source"] == "ledger"]
    return rows


def test_a_worker_killed_while_impacts_flow_through_the_outbox_loses_and_repeats_nothing(
    bus_backend: BusBackend, fleet: Fleet
) -> None:
    """Impacts are published in the API's transaction (the outbox), postings publish their
    callback events in the worker's. kill -9 of the only worker mid-stream (on NATS it runs the
    outbox relay: a batch JetStream stored may not be deleted from the outbox yet), then a new
    worker: every impact posted once, and one callback event per impact in the lake."""
    fleet.env.update(FAST_ENV, **bus_backend.env)
    base = fleet.api()
    first = fleet.start("worker")
    wait_groups(fleet, 1, "the worker runs")
    bearer = {"Authorization": f"Bearer {token(fleet.home, 'ledger:write', 'ledger:read')}"}
    today = datetime.now(UTC).date().isoformat()
    sent: list[str] = []
    refused: list[str] = []

    def post() -> None:
        with httpx.Client(base_url=base, headers=bearer, timeout=30) as http:
            for n in range(60):
                batch = [
                    {
                        "tracekey": str(uuid.uuid4()),
                        "branch": "0001",
                        "account": f"relay-{(n + i) % 7}",
                        "amount": "1.00",
                        "debitcredit": "C",
                        "eventcode": 5,
                        "dateref": today,
                    }
                    for i in range(5)
                ]
                response = http.post("/v1/ledger/impacts", json=batch)
                if response.status_code != 202:
                    refused.append(f"{response.status_code} {response.text[:200]}")
                    continue
                sent.extend(i["tracekey"] for i in batch)
                time.sleep(0.02)

    producer = threading.Thread(target=post, daemon=True)
    producer.start()
    deadline = time.monotonic() + 60
    while len(ledger_lake_rows(fleet.home)) < 20 and time.monotonic() < deadline:
        time.sleep(0.1)  # the worker (and its relay) is forwarding: kill it now
    assert producer.is_alive(), "the impacts were all sent before the kill: nothing was tested"
    fleet.kill(first)
    producer.join(timeout=120)
    assert not refused, refused[:3]
    assert len(sent) == 300
    fleet.start("worker")
    deadline = time.monotonic() + 90
    rows = ledger_lake_rows(fleet.home)
    while len(rows) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.3)
        rows = ledger_lake_rows(fleet.home)
    time.sleep(1.0)  # anything duplicated late would show up now
    rows = ledger_lake_rows(fleet.home)
    assert sorted(rows) == sorted((t, "ledger.posted") for t in sent)
    with httpx.Client(base_url=base, headers=bearer, timeout=30) as http:
        balances = {
            a: http.get(f"/v1/ledger/accounts/0001/relay-{a}/balance").json()["balance"]
            for a in range(7)
        }
    credits = [(n + i) % 7 for n in range(60) for i in range(5)]
    assert balances == {a: f"{credits.count(a)}.00" for a in range(7)}  # each posted once


def test_the_embedded_server_stops_with_the_last_process_after_a_kill_9(fleet: Fleet) -> None:
    fleet.env.update(FAST_ENV)
    fleet.api()
    worker = fleet.start("worker")
    wait_groups(fleet, 1, "the worker runs")
    [postmaster] = postmasters(fleet.home)
    fleet.kill(worker)  # leaves its PID in pgdata/.handle_pids.json
    (api,) = fleet.alive()
    fleet.kill(api)  # the server keeps running: nobody stopped it
    assert postmasters(fleet.home) == [postmaster]
    base = fleet.api()  # a restart attaches to the running server...
    assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    assert postmasters(fleet.home) == [postmaster]
    (api,) = fleet.alive()
    assert fleet.terminate(api) == 0  # ... and, the last holder, stops it on SIGTERM
    deadline = time.monotonic() + 20
    while postmasters(fleet.home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert postmasters(fleet.home) == []
