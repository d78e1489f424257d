"""The bus and router as a user runs them: `caudal up` with a routes file and a webhook
receiver, `caudal bus status`, `caudal bus replay`, and a broken routes file refused."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from caudal.events.sinks.webhook import SIGNATURE_HEADER, verify_signature
from tests.e2e.conftest import Server, caudal

pytestmark = [pytest.mark.e2e, pytest.mark.migrated_home]  # not about a first start

SECRET = "e2e-webhook-secret-0123456789"

ROUTES = """
routes:
  - name: everything
    sinks: [lake, realtime]
  - name: help-clicks-to-the-webhook
    match:
      source: frontend
      type: "click_*"
      where: device.platform == Android
    sinks: [webhook]
"""


class Receiver:
    """A webhook receiver; it keeps what it accepted, and answers `status` (204, or a refusal)."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 204
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.status < 300:
                    receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        return [e for _, body in self.requests for e in orjson.loads(body)["events"]]

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.events()) < count:
            assert time.monotonic() < deadline, f"only {len(self.events())} webhook events"
            time.sleep(0.05)


def webhook_env(receiver: Receiver, directory: Path) -> dict[str, str]:
    """`caudal` routing Android clicks to `receiver` (ROUTES), in wide tables."""
    routes = directory / "routes.yaml"
    routes.write_text(ROUTES)
    return {
        "CAUDAL_EVENTS__ROUTES": str(routes),
        "CAUDAL_WEBHOOK__URL": receiver.url,
        "CAUDAL_WEBHOOK__SECRET": SECRET,
        "COLUMNS": "220",
    }


def test_events_reach_the_webhook_signed_and_the_bus_cli_reports_and_replays(
    start_server: type[Server], home: Path, tmp_path: Path
) -> None:
    receiver = Receiver()
    env = webhook_env(receiver, tmp_path)
    try:
        server = start_server(**env)
        server.wait_ready()
        headers = {"Authorization": f"Bearer {server.admin_token()}"}
        items = [
            {"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_button_help"},
            {"timestamp": "2020-10-12T20:01:15-0300", "event_id": "add_to_cart"},
        ]
        for platform in ("Android", "iOS"):
            posted = httpx.post(
                f"{server.base_url}/v1/events/frontend",
                json={"device": {"platform": platform, "deviceId": "dev-1"}, "data": items},
                headers=headers,
            )
            assert posted.status_code == 202, posted.text
        receiver.wait_for(1)
        time.sleep(1.0)  # nothing else is routed to the webhook
        [event] = receiver.events()
        assert (event["type"], event["device"]["platform"]) == ("click_button_help", "Android")
        request_headers, body = receiver.requests[0]
        assert verify_signature(SECRET, body, request_headers[SIGNATURE_HEADER])

        status = caudal("bus", "status", home=home, **env)
        assert status.returncode == 0, status.stderr
        for group in ("lake", "realtime", "webhook", "customers.activity"):
            assert group in status.stdout
        as_json = caudal("bus", "status", "--json", home=home, **env)
        groups = {g["group"]: g for g in orjson.loads(as_json.stdout)}
        assert {"lake", "realtime", "webhook", "customers.activity"} <= set(groups)
        webhook = groups["webhook"]
        assert (webhook["workers"], webhook["partitions_held"], webhook["dead_letters"]) == (
            1,
            webhook["partitions"],
            0,
        )

        replay = caudal("bus", "replay", "--group", "webhook", "--since", "1h", home=home, **env)
        assert replay.returncode == 0, replay.stderr
        assert "group webhook moved" in replay.stdout
        receiver.wait_for(2)  # the same event, delivered again with the same idempotency key
        assert [e["id"] for e in receiver.events()] == [event["id"], event["id"]]
        keys = {h["Idempotency-Key"] for h, _ in receiver.requests}
        assert len(keys) == 1

        unknown = caudal("bus", "replay", "--group", "nope", "--since", "1h", home=home, **env)
        assert unknown.returncode == 1
        assert "no consumer group 'nope'" in unknown.stderr
        assert server.stop() == 0  # SIGTERM: drains, stops its embedded PostgreSQL, exits 0
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_a_broken_routes_file_stops_caudal_up_with_the_line_at_fault(
    start_server: type[Server], tmp_path: Path
) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes:\n  - sinks: [lake]\n  - name: typo\n    sinks: [lakee]\n")
    server = start_server(CAUDAL_EVENTS__ROUTES=str(routes))
    code = server.proc.wait(timeout=120)
    output = "\n".join(server.lines)
    assert code != 0
    assert f"{routes}:3: rule 'typo' names unknown sink 'lakee'" in output
