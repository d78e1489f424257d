"""`caudal up` with its bus workers in a child process (`CAUDAL_UP__WORKER_PROCESSES`), run as a
user runs it: the child consumes, is restarted when killed, never outlives the API (not even a
`kill -9` of it), and SIGTERM stops both cleanly."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Server, caudal

pytestmark = pytest.mark.migrated_home


def _children(server: Server) -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process(server.proc.pid).children()
        if "up-worker" in " ".join(p.cmdline())
    ]


def _child(server: Server, timeout: float = 60, not_pid: int | None = None) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in _children(server) if p.pid != not_pid]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError("no worker process:\n" + "\n".join(server.lines))


def _metrics(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _post_click(server: Server, token: str, device: str) -> None:
    body = {
        "device": {"platform": "Android", "deviceId": device},
        "data": [{"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_split"}],
    }
    answer = httpx.post(
        f"{server.base_url}/v1/events/frontend",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text


def _seen_by_realtime(server: Server, token: str, device: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = httpx.get(
            f"{server.base_url}/v1/monitor/events",
            params={"device": device},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()["items"]
        if found:
            return
        time.sleep(0.2)
    raise AssertionError(f"realtime never had {device}:\n" + "\n".join(server.lines))


def test_the_worker_child_consumes_is_restarted_and_stops_with_the_api(
    start_server: type[Server],
) -> None:
    server = start_server(CAUDAL_UP__WORKER_PROCESSES="1", CAUDAL_LOG_FORMAT="json")
    server.wait_ready()
    token = server.admin_token()
    # ready only once the child runs its services; the API process keeps customers.activity
    child = _child(server, timeout=1)
    running = [line for line in server.lines if line.startswith("running ")]
    assert running and "bus:lake" in running[0] and "customers.activity" not in running[0]

    _post_click(server, token, "split-1")
    _seen_by_realtime(server, token, "split-1")  # the realtime sink runs in the child only
    handled = _metrics(server)  # the child's series, in the parent's /metrics
    assert handled[
        ("caudal_bus_handled_messages_total", (("group", "realtime"), ("outcome", "ok")))
    ]
    logs = [json.loads(line) for line in server.lines if line.startswith("{")]
    assert {line.get("process") for line in logs} >= {"http", "worker-1"}

    child.kill()  # SIGKILL: the API answers on, the child is started again
    assert httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 200
    again = _child(server, not_pid=child.pid)
    restarts = ("caudal_up_worker_restarts_total", (("process", "worker-1"),))
    deadline = time.monotonic() + 30
    while _metrics(server).get(restarts) != 1.0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _metrics(server).get(restarts) == 1.0
    logs = [json.loads(line) for line in server.lines if line.startswith("{")]
    assert any(
        line.get("event") == "worker_process_failing" and line.get("exit_code") == -9
        for line in logs
    )

    assert server.stop() == 0  # SIGTERM: the API drains, then the child stops
    assert not again.is_running()
    logs = [json.loads(line) for line in server.lines if line.startswith("{")]
    assert not any(line.get("event") == "worker_process_killed" for line in logs)


def test_kill_9_of_up_leaves_no_worker_process_behind(
    home: Path, start_server: type[Server]
) -> None:
    server = start_server(CAUDAL_UP__WORKER_PROCESSES="1")
    server.wait_ready()
    child = _child(server, timeout=1)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    child.wait(timeout=10)  # EOF on its stdin: it stops by itself
    assert not child.is_running()
    # the embedded PostgreSQL outlives a `kill -9` of its last holder (docs/operations.md):
    # the next command on the home stops it
    assert caudal("migrate", home=home).returncode == 0


def test_zero_worker_processes_runs_everything_in_one(start_server: type[Server]) -> None:
    server = start_server("--worker-processes", "0")
    server.wait_ready()
    assert _children(server) == []
    assert server.stop() == 0
