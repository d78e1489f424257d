"""`caudal up` and friends, run as a user runs them, against a real embedded PostgreSQL."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import httpx
import jwt

from caudal.platform import scopes
from tests.e2e.conftest import Server, caudal


def test_up_serves_ready_then_drains_on_sigterm_and_reuses_its_data(
    home: Path, start_server: type[Server]
) -> None:
    first = start_server()
    cold = first.wait_ready()
    token = first.admin_token()
    print(f"cold start of caudal up (fresh home): {cold:.2f}s")

    anonymous = httpx.get(f"{first.base_url}/v1/whoami")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.json()["code"] == "CAU-AUTH-MISSING-TOKEN"
    me = httpx.get(f"{first.base_url}/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {"subject": "admin", "scopes": sorted(scopes.ALL)}
    assert any('"event": "request"' in line and '"/v1/whoami"' in line for line in first.lines)
    # stdout is not a terminal: the token is in a 0600 file, never in the output or its logs
    assert f"  admin token (7 days) in {home / 'admin.token'}" in first.lines
    assert stat.S_IMODE((home / "admin.token").stat().st_mode) == 0o600
    assert not any(token in line for line in first.lines)
    # where it listens, for clients of the same home (`caudal demo`); gone once it stops
    assert json.loads((home / "run.json").read_text())["url"] == first.base_url
    assert first.stop() == 0
    assert not (home / "run.json").exists()

    second = start_server()
    warm = second.wait_ready()
    print(f"start of caudal up on an existing home: {warm:.2f}s")
    # Same home: same signing secret and the same database (nothing left to migrate).
    again = httpx.get(f"{second.base_url}/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 200
    assert second.stop() == 0
    migrate = caudal("migrate", home=home)
    assert migrate.returncode == 0, migrate.stderr
    assert "0 migration(s) applied" in migrate.stdout


def test_token_prints_only_the_token(home: Path) -> None:
    result = caudal(
        "token", "--scope", "ledger:read", "--scope", "events:write", "--ttl", "15m", home=home
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    secret = (home / "secret.key").read_text()
    claims = jwt.decode(lines[0], secret, algorithms=["HS256"], audience="caudal")
    assert claims["scope"] == "events:write ledger:read"
    assert claims["exp"] - claims["iat"] == 900


def test_token_refuses_unknown_scope_with_a_hint(home: Path) -> None:
    result = caudal("token", "--scope", "ledger:steal", home=home)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "unknown scope" in result.stderr and "ledger:read" in result.stderr


def test_version_and_doctor(home: Path) -> None:
    version = caudal("--version", home=home)
    assert version.returncode == 0 and version.stdout.startswith("caudal ")
    doctor = caudal("doctor", home=home, CAUDAL_AUTH__SECRET="do-not-print-this-secret-0000000000")
    assert "pending migration" in doctor.stdout  # a fresh home is not migrated yet
    assert doctor.returncode == 1
    assert caudal("migrate", home=home).returncode == 0
    doctor = caudal("doctor", home=home, CAUDAL_AUTH__SECRET="do-not-print-this-secret-0000000000")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "migrations current" in doctor.stdout
    # the effective defaults, never `null` for what an unset setting resolves to
    assert f'"url": "file://{home.resolve()}/lake"' in doctor.stdout
    assert f'"bucket_url": "file://{home.resolve()}/exports"' in doctor.stdout
    assert f'"warehouse_path": "{home.resolve()}/warehouse.duckdb"' in doctor.stdout
    assert "do-not-print-this-secret" not in doctor.stdout + doctor.stderr


def test_bad_setting_exits_with_a_hint(home: Path) -> None:
    result = caudal("doctor", home=home, CAUDAL_PORT="not-a-port")
    assert result.returncode == 2
    assert "CAUDAL_PORT" in result.stderr


def test_sigterm_lets_an_in_flight_request_finish_and_the_lake_writes_it(
    home: Path, start_server: type[Server]
) -> None:
    """SIGTERM arrives while a request body is still being sent: the request still succeeds,
    and the lake writes the delivery it holds to gather more (a linger of half a minute here)
    at once: well within a graceful stop of 5 s, which would otherwise cancel it."""
    import json
    import socket
    import time

    import pyarrow.parquet as pq

    server = start_server(CAUDAL_HTTP__GRACEFUL_SHUTDOWN_SECONDS="5")
    server.wait_ready()
    body = json.dumps(
        {
            "device": {"platform": "Android", "deviceId": "drain-test"},
            "data": [{"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_button_help"}],
        }
    ).encode()
    head = (
        f"POST /v1/events/frontend HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {server.admin_token()}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as conn:
        conn.sendall(head + body[:10])
        time.sleep(0.3)
        server.proc.send_signal(15)  # SIGTERM mid-request
        time.sleep(0.5)
        conn.sendall(body[10:])
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 202"), response[:200]
    accepted = json.loads(response.split(b"\r\n\r\n", 1)[1])["accepted"]
    assert server.stop() == 0
    files = sorted((home / "lake").glob("frontend/*/dt=*/*.parquet"))
    assert [i for f in files for i in pq.read_table(f, columns=["id"])["id"].to_pylist()] == [
        accepted[0]["id"]
    ]


def test_a_busy_port_fails_before_the_banner_and_the_token(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = caudal("up", "--port", str(port), home=home, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""  # no admin token
    assert "caudal is starting" not in result.stderr
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "--port" in result.stderr
    assert not (home / "pgdata").exists()  # nothing prepared either
