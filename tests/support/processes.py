"""Several `caudal` processes on one home (one embedded PostgreSQL), started, SIGTERMed and
killed by a test; at the end none of them, and no postmaster of that home, may be left."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import cli_env, free_port, seed_home
from tests.support.leaks import no_postmaster_left, postmasters

LEASE_SECONDS = 2.0
# Short leases, quick flushes and polls: what a test waits for happens within seconds.
FAST_ENV = {
    "CAUDAL_LAKE__FLUSH_MAX_EVENTS": "250",
    "CAUDAL_LAKE__FLUSH_MAX_SECONDS": "0.3",
    "CAUDAL_BUS__POLL_INTERVAL_SECONDS": "0.2",
    "CAUDAL_BUS__LEASE_SECONDS": str(LEASE_SECONDS),
    "CAUDAL_BUS__RETRY_MAX_SECONDS": "2",
    "CAUDAL_LOG_LEVEL": "warning",
}


class Fleet:
    """`caudal api` / `caudal worker` subprocesses sharing one CAUDAL_HOME."""

    def __init__(self, home: Path, logs: Path, env: dict[str, str]) -> None:
        self.home = home
        self.logs = logs
        self.env = env
        self.procs: list[subprocess.Popen[bytes]] = []
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{len(self.procs):02d}-{args[0]}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "caudal", *args],
            env=cli_env(self.home, **self.env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def api(self) -> str:
        """Start `caudal api` on a free port; return its base URL once it is ready."""
        return self.apis(1)[0]

    def apis(self, count: int) -> list[str]:
        """Start `count` `caudal api` processes at once; their base URLs once all are ready."""
        started = []
        for _ in range(count):
            port = free_port()
            started.append((self.start("api", "--port", str(port)), f"http://127.0.0.1:{port}"))
        deadline = time.monotonic() + 120
        for proc, base in started:
            while True:
                assert proc.poll() is None, f"caudal api exited:\n{self.output(proc)}"
                assert time.monotonic() < deadline, f"caudal api not ready:\n{self.output(proc)}"
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        return [base for _, base in started]

    def database_url(self) -> str:
        """The embedded server's `caudal` database, read from its postmaster.pid (without
        becoming one of the server's holders)."""
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            from pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.home / "pgdata")
        assert info is not None and info.is_running(), "the embedded server is not running"
        return str(info.get_uri(database="caudal"))

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        index = self.procs.index(proc)
        [log] = self.logs.glob(f"{index:02d}-*.log")
        return log.read_text(errors="replace")[-4000:]

    def problems(self, limit: int = 40) -> str:
        """The warnings and errors the processes logged, last ones first (for a failure)."""
        lines = [
            f"{log.name}: {line[:400]}"
            for log in sorted(self.logs.glob("*.log"))
            for line in log.read_text(errors="replace").splitlines()
            if '"level": "warning"' in line or '"level": "error"' in line
        ]
        return "\n".join(lines[-limit:])

    @staticmethod
    def terminate(proc: subprocess.Popen[bytes], timeout: float = 40) -> int:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"pid {proc.pid} ignored SIGTERM for {timeout} s") from None

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        proc.kill()
        proc.wait(timeout=10)

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def close(self) -> None:
        """SIGTERM what still runs (the last one stops the embedded server), then check that no
        postmaster of this home is left; one that is would be killed and the test failed."""
        errors = []
        alive = self.alive()
        for proc in alive:  # all at once: they stop in parallel
            proc.send_signal(signal.SIGTERM)
        for proc in alive:
            try:
                self.terminate(proc)
            except AssertionError as exc:
                errors.append(str(exc))
        try:
            no_postmaster_left(self.home)
        except AssertionError as exc:
            errors.append(str(exc))
        assert not errors, "; ".join(errors)


@pytest.fixture
def fleet(tmp_path: Path, migrated_pgdata: Path) -> Iterator[Fleet]:
    """A fleet on a home whose database is already migrated: what these tests exercise is
    processes sharing and leaving it, not a home's first start (`tests/e2e/test_cli_up.py`)."""
    # The home is not under tmp_path: the server runs as another user when we are root, and a
    # concurrent pytest session resets /tmp/pytest-of-<user> to mode 0700 at any moment.
    home = Path(tempfile.mkdtemp(prefix="caudal-fleet-"))
    seed_home(home / "home", migrated_pgdata)
    fleet = Fleet(home / "home", tmp_path / "logs", {})
    try:
        yield fleet
        fleet.close()
    finally:
        if not postmasters(fleet.home):
            shutil.rmtree(home, ignore_errors=True)
