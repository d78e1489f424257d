"""Events end to end, as a user runs caudal: `caudal api` and `caudal worker` subprocesses on one
embedded PostgreSQL; the worker is killed with SIGKILL in the middle of its work, then restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import caudal, cli_env, free_port

FAST = {
    "CAUDAL_LAKE__FLUSH_MAX_EVENTS": "100",
    "CAUDAL_LAKE__FLUSH_MAX_SECONDS": "0.3",
    "CAUDAL_BUS__POLL_INTERVAL_SECONDS": "0.2",
    "CAUDAL_BUS__LEASE_SECONDS": "2",
    "CAUDAL_BUS__BATCH_SIZE": "200",
    "CAUDAL_LOG_LEVEL": "warning",
}


def start(home: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "caudal", *args],
        env=cli_env(home, **FAST),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "caudal api exited"
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("caudal api never became ready")


def lake_ids(root: Path) -> list[str]:
    ids: list[str] = []
    for path in sorted(root.glob("*/*/dt=*/*.parquet")):
        ids += pq.read_table(path, columns=["id"]).column("id").to_pylist()
    return ids


def frontend(n: int, device: str) -> dict[str, object]:
    return {
        "device": {"platform": "Android" if n % 2 else "iOS", "deviceId": device},
        "data": [
            {
                "timestamp": f"2020-10-{10 + i % 5}T20:01:14-0300",
                "event_id": "click_button_help" if i % 3 else "add_to_cart",
                **({"userId": n + 1, "productId": i + 1, "quantity": 1} if not i % 3 else {}),
            }
            for i in range(40)
        ],
    }


@pytest.mark.migrated_home  # not about a home's first start
def test_kill_9_of_the_worker_mid_batch_then_restart_lake_rows_equal_accepted(
    home: Path,
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = start(home, "api", "--port", str(port))
    worker: subprocess.Popen[bytes] | None = None
    try:
        wait_ready(base, api)
        minted = caudal("token", "--scope", "events:write", "--scope", "monitor:read", home=home)
        assert minted.returncode == 0, minted.stderr
        headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
        worker = start(home, "worker")
        accepted: list[str] = []
        kills = 0
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            for n in range(75):
                response = http.post("/v1/events/frontend", json=frontend(n, f"dev-{n % 7}"))
                assert response.status_code == 202, response.text
                accepted += [a["id"] for a in response.json()["accepted"]]
                if n in (10, 30, 50):
                    # A backlog it cannot drain in one go: the next ten requests (400 events,
                    # lake deliveries of 100) arrive while it is stopped.
                    os.kill(worker.pid, signal.SIGSTOP)
                if n in (20, 40, 60):
                    # Resume it and kill it the moment its first lake file of them appears.
                    seen = len(lake_ids(home / "lake"))
                    os.kill(worker.pid, signal.SIGCONT)
                    deadline = time.monotonic() + 20
                    while (now := len(lake_ids(home / "lake"))) == seen:
                        assert time.monotonic() < deadline, "the worker never wrote to the lake"
                        time.sleep(0.005)
                    assert now < len(accepted), "killed after the work, not during"
                    os.kill(worker.pid, signal.SIGKILL)
                    worker.wait(timeout=10)
                    kills += 1
                    worker = start(home, "worker")
            assert len(accepted) == 75 * 40
            deadline = time.monotonic() + 90
            rows = lake_ids(home / "lake")
            while len(rows) < len(accepted) and time.monotonic() < deadline:
                time.sleep(0.5)
                rows = lake_ids(home / "lake")
            time.sleep(1.5)  # anything duplicated late would show up now
            rows = lake_ids(home / "lake")
            assert kills == 3
            assert len(rows) == len(accepted)  # exactly: nothing lost, nothing twice
            assert set(rows) == set(accepted)
            rates = http.get("/v1/monitor/rates", params={"since": "1h"}).json()
            assert rates["total"] == len(accepted)  # realtime counted each event once
            by_platform = {s["platform"]: 0 for s in rates["series"]}
            for series in rates["series"]:
                by_platform[series["platform"]] += series["count"]
            assert by_platform == {"Android": 37 * 40, "iOS": 38 * 40}
        first = pq.read_table(
            home / "lake" / "frontend" / "add_to_cart" / "dt=2020-10-10",
            filters=[("id", "=", accepted[0])],
        ).to_pylist()
        assert len(first) == 1
        row = first[0]
        assert (row["source"], row["type"], row["version"]) == ("frontend", "add_to_cart", "1.0")
        assert row["occurred_at"] == datetime(2020, 10, 10, 23, 1, 14, tzinfo=UTC)  # -0300 -> UTC
        assert (row["platform"], row["device_id"]) == ("iOS", "dev-0")
        assert json.loads(row["data"]) == {"userId": 1, "productId": 1, "quantity": 1}
        assert row["trace_key"]
        sql = caudal(
            "lake",
            "sql",
            "SELECT count(*) AS n, count(DISTINCT id) AS d FROM events",
            "--format",
            "csv",
            home=home,
        )
        assert sql.returncode == 0, sql.stderr
        assert sql.stdout.strip().splitlines() == ["n,d", f"{len(accepted)},{len(accepted)}"]
    finally:
        for proc in (worker, api):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)  # a failure may leave the worker stopped
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    proc.kill()
