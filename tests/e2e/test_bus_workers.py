"""Scaling out with `caudal worker` processes, as a user does it: a second worker takes half the
partitions, stopping it (SIGTERM) or killing it (kill -9) hands them back, every event reaches
the lake; and the embedded PostgreSQL stops with the last process even after a kill -9."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import caudal
from tests.support.processes import FAST_ENV, Fleet, fleet, postmasters

pytestmark = pytest.mark.e2e

__all__ = ["fleet"]


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


def post_events(base: str, home: Path, count: int) -> list[str]:
    minted = caudal("token", "--scope", "events:write", home=home)
    assert minted.returncode == 0, minted.stderr
    accepted: list[str] = []
    with httpx.Client(
        base_url=base, headers={"Authorization": f"Bearer {minted.stdout.strip()}"}, timeout=30
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
def test_a_second_worker_that_goes_away_hands_its_partitions_back(fleet: Fleet, how: str) -> None:
    fleet.env.update(FAST_ENV)
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
