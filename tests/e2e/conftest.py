"""Helpers to run the `caudal` CLI as a user does: a real subprocess on a free port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.leaks import no_postmaster_left


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUDAL_")}
    env.update({"CAUDAL_HOME": str(home), **extra})
    return env


def caudal(
    *args: str, home: Path, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "caudal", *args],
        env=cli_env(home, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Server:
    """`caudal up` (or `command`: `caudal api`) in a subprocess; stdout lines are collected as
    they come."""

    def __init__(self, home: Path, *args: str, command: str = "up", **env: str) -> None:
        self.home = home
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "caudal", command, "--port", str(self.port), *args],
            env=cli_env(home, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_ready(self, timeout: float = 90) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("caudal up exited:\n" + "\n".join(self.lines))
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("caudal up never became ready:\n" + "\n".join(self.lines))

    def admin_token(self) -> str:
        """Written to `<home>/admin.token` (0600): stdout is a pipe here, not a terminal."""
        return (self.home / "admin.token").read_text("utf-8").strip()

    def stop(self, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


@pytest.fixture(scope="session")
def migrated_pgdata() -> Iterator[Path]:
    """An embedded data directory as the first `caudal migrate` of a fresh home leaves it
    (initdb, then every migration; the server stopped), made once per session. A test that is
    not about a home's first start begins from a copy: initdb and the migrations take ~4-5 s
    per home on a loaded 2-core machine (`pytest.mark.migrated_home`, `Fleet`)."""
    # Not under tmp_path: the server runs as another user when we are root, and a concurrent
    # pytest session resets /tmp/pytest-of-<user> to mode 0700 at any moment.
    seed = Path(tempfile.mkdtemp(prefix="caudal-seed-")) / "home"
    try:
        done = caudal("migrate", home=seed)
        assert done.returncode == 0, done.stdout + done.stderr
        no_postmaster_left(seed)
        yield seed / "pgdata"
    finally:
        shutil.rmtree(seed.parent, ignore_errors=True)


def seed_home(home: Path, pgdata: Path) -> None:
    """Give `home` a copy of a migrated data directory (`cp -a`: as root, the files keep the
    server user's ownership, which PostgreSQL requires)."""
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(pgdata), str(home / "pgdata")], check=True)


@pytest.fixture
def home(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A test's CAUDAL_HOME: fresh, or under `pytest.mark.migrated_home` already migrated."""
    home = tmp_path / "home"
    if request.node.get_closest_marker("migrated_home") is not None:
        seed_home(home, request.getfixturevalue("migrated_pgdata"))
    yield home
    no_postmaster_left(home)  # killed processes or not, no embedded server outlives a test


@pytest.fixture
def start_server(home: Path) -> Iterator[type[Server]]:
    started: list[Server] = []

    class Tracked(Server):
        def __init__(self, *args: str, **env: str) -> None:
            super().__init__(home, *args, **env)
            started.append(self)

    yield Tracked
    for server in started:
        try:
            server.stop()  # SIGTERM: the last process to exit stops the embedded server
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.stop()
