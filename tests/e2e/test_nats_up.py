"""`caudal up` on NATS JetStream (CAUDAL_BUS__BACKEND=nats) against a private nats-server:
events reach the lake and the realtime rollups, ledger impacts reach the balances (seed 003:
8, 9, 8, -2, 12), and JetStream's /jsz shows the messages."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, caudal
from tests.e2e.test_events_pipeline import frontend, lake_ids
from tests.support.ledger import SEED_BALANCES, seed_impacts, statement_balances, wait_posted
from tests.support.nats import running_nats


def _wait(check: object, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.migrated_home  # not about a home's first start
def test_caudal_up_on_nats_carries_events_and_ledger_impacts(
    home: Path, start_server: type[Server]
) -> None:
    with running_nats() as nats:
        server = start_server(
            CAUDAL_BUS__BACKEND="nats",
            CAUDAL_BUS__NATS_URL=nats.url,
            CAUDAL_LAKE__FLUSH_MAX_EVENTS="40",
            CAUDAL_LAKE__FLUSH_MAX_SECONDS="0.3",
            CAUDAL_BUS__POLL_INTERVAL_SECONDS="0.2",
        )
        server.wait_ready()
        h = {"Authorization": f"Bearer {server.admin_token()}"}
        today = datetime.now(UTC).date().isoformat()
        keys, impacts = seed_impacts("NATS", today)
        with httpx.Client(base_url=server.base_url, headers=h, timeout=10) as http:
            accepted = http.post("/v1/events/frontend", json=frontend(0, "nats-device"))
            assert accepted.status_code == 202, accepted.text
            ids = {a["id"] for a in accepted.json()["accepted"]}
            assert len(ids) == 40
            posted = http.post("/v1/ledger/impacts", json=impacts)
            assert posted.status_code == 202, posted.text

            _wait(lambda: ids <= set(lake_ids(home / "lake")), "the lake")
            rows = lake_ids(home / "lake")  # the ledger's own events land there too
            assert len(rows) == len(set(rows))  # each event once
            rates = {"since": "1h", "source": "frontend"}
            _wait(
                lambda: http.get("/v1/monitor/rates", params=rates).json()["total"] == 40,
                "the realtime rollups",
            )
            assert wait_posted(http, keys) == ["posted"] * 5
            assert statement_balances(http, "NATS", today) == SEED_BALANCES
            status = http.get("/readyz")
            assert status.status_code == 200
        jsz = nats.jsz()
        streams = {
            s["name"]: s["state"]
            for account in jsz["account_details"]  # type: ignore[union-attr]
            for s in account.get("stream_detail", [])
        }
        # 40 events + 5 impacts at least (postings publish their own events too).
        assert streams["caudal_bus"]["messages"] >= 45, streams
        assert server.stop() == 0

        # The bus CLI on the NATS backend.
        env = {"CAUDAL_BUS__BACKEND": "nats", "CAUDAL_BUS__NATS_URL": nats.url}
        status = caudal("bus", "status", "--json", home=home, **env)
        assert status.returncode == 0, status.stderr
        groups = {g["group"]: g for g in json.loads(status.stdout)}
        assert {"lake", "realtime", "ledger-posting"} <= set(groups), groups
        assert groups["lake"]["lag"] == 0 and groups["lake"]["workers"] == 0
        replay = caudal("bus", "replay", "--group", "lake", "--from-offset", "1", home=home, **env)
        assert replay.returncode == 0, replay.stderr
        assert "message(s) will be delivered again" in replay.stdout
        letters = caudal("bus", "dlq", home=home, **env)
        assert letters.returncode == 0 and "No dead letters." in letters.stdout
        dropped = caudal("bus", "drop-group", "realtime", home=home, **env)
        assert dropped.returncode == 0, dropped.stderr
        status = caudal("bus", "status", "--json", home=home, **env)
        assert "realtime" not in {g["group"] for g in json.loads(status.stdout)}
        assert {g["group"]: g["lag"] for g in json.loads(status.stdout)}["lake"] >= 40


def test_doctor_checks_nats_jetstream_and_the_streams_and_says_what_to_do(home: Path) -> None:
    assert caudal("migrate", home=home).returncode == 0
    with running_nats(jetstream=False) as plain:
        port = plain.port
        env = {
            "CAUDAL_BUS__BACKEND": "nats",
            "CAUDAL_BUS__NATS_URL": f"nats://u:pw@{plain.url[7:]}",
        }
        doctor = caudal("doctor", home=home, **env)
        assert doctor.returncode == 1
        assert f"✓ NATS nats://127.0.0.1:{port}: server" in doctor.stdout
        assert "JetStream is not enabled on this NATS" in doctor.stderr
        assert "start nats-server with -js" in doctor.stderr
        assert "pw" not in doctor.stdout + doctor.stderr
    doctor = caudal("doctor", home=home, **env)  # nothing listens there now
    assert doctor.returncode == 1
    assert f"NATS unreachable at nats://127.0.0.1:{port}" in doctor.stderr
    assert "CAUDAL_BUS__NATS_URL" in doctor.stderr

    with running_nats() as nats:
        env = {"CAUDAL_BUS__BACKEND": "nats", "CAUDAL_BUS__NATS_URL": nats.url}
        doctor = caudal("doctor", home=home, **env)
        assert doctor.returncode == 1
        assert "✓ JetStream enabled" in doctor.stdout
        assert "stream caudal_bus does not exist" in doctor.stderr
        assert "the first `caudal up`, `caudal api` or `caudal worker`" in doctor.stderr
        status = caudal("bus", "status", home=home, **env)  # connects: creates the streams
        assert status.returncode == 0, status.stderr
        assert "Outbox: empty" in status.stdout
        doctor = caudal("doctor", home=home, **env)
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert "✓ stream caudal_bus: 0 message(s), 1 replica(s)" in doctor.stdout
        assert "✓ stream caudal_dlq: 0 message(s), 1 replica(s)" in doctor.stdout
