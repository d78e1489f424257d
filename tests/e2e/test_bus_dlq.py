"""Dead letters as an operator handles them, on each bus backend (PostgreSQL, and NATS JetStream
on a private nats-server): a webhook receiver refuses an event until it is fixed, the event goes
to the dead letters, `caudal bus dlq` lists it (never its payload), `caudal bus dlq redrive`
delivers it again once the receiver accepts it, and it leaves the dead letters."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.conftest import Server, caudal
from tests.e2e.test_bus_cli import Receiver, webhook_env
from tests.support.nats import BusBackend, bus_backend

pytestmark = [pytest.mark.e2e, pytest.mark.migrated_home]  # not about a first start

__all__ = ["bus_backend"]


def webhook_group(home: Path, env: dict[str, str]) -> dict[str, Any]:
    status = caudal("bus", "status", "--json", home=home, **env)
    assert status.returncode == 0, status.stderr
    found: dict[str, Any] = {g["group"]: g for g in orjson.loads(status.stdout)}["webhook"]
    return found


def test_a_dead_letter_is_listed_and_redriven_once_the_receiver_accepts_it(
    bus_backend: BusBackend, start_server: type[Server], home: Path, tmp_path: Path
) -> None:
    receiver = Receiver()
    receiver.status = 400  # refuses the request itself: not retried by the sink
    env = {
        **webhook_env(receiver, tmp_path),
        "CAUDAL_BUS__MAX_ATTEMPTS": "2",
        "CAUDAL_BUS__RETRY_BASE_SECONDS": "0.1",
        "CAUDAL_BUS__POLL_INTERVAL_SECONDS": "0.2",
        **bus_backend.env,
    }
    try:
        server = start_server(**env)
        server.wait_ready()
        posted = httpx.post(
            f"{server.base_url}/v1/events/frontend",
            json={
                "device": {"platform": "Android", "deviceId": "dlq-1"},
                "data": [{"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_button"}],
            },
            headers={"Authorization": f"Bearer {server.admin_token()}"},
        )
        assert posted.status_code == 202, posted.text
        [event_id] = [a["id"] for a in posted.json()["accepted"]]
        deadline = time.monotonic() + 60
        while webhook_group(home, env)["dead_letters"] != 1:
            assert time.monotonic() < deadline, "no dead letter for the refused event"
            time.sleep(0.5)

        listed = caudal("bus", "dlq", "--group", "webhook", home=home, **env)
        assert listed.returncode == 0, listed.stderr
        assert event_id in listed.stdout
        assert "WebhookError" in listed.stdout and "400" in listed.stdout
        assert "dlq-1" not in listed.stdout  # the payload is never shown
        assert "caudal bus dlq redrive" in listed.stdout

        receiver.status = 204  # the receiver is fixed
        redriven = caudal("bus", "dlq", "redrive", "--group", "webhook", home=home, **env)
        assert redriven.returncode == 0, redriven.stderr
        assert "1 dead letter(s) queued for re-drive" in redriven.stdout
        receiver.wait_for(1)
        assert [e["id"] for e in receiver.events()] == [event_id]
        deadline = time.monotonic() + 30
        while (group := webhook_group(home, env))["dead_letters"] != 0:
            assert time.monotonic() < deadline, group
            time.sleep(0.5)
        assert group["lag"] == 0
        again = caudal("bus", "dlq", "redrive", "--group", "webhook", home=home, **env)
        assert "No dead letter matched." in again.stdout
        assert [e["id"] for e in receiver.events()] == [event_id]  # delivered once
        assert server.stop() == 0
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
