"""A private `nats-server -js` per test session (never the machine's shared server).

Started on free ports with a temporary store directory and file storage, so a test can kill -9
it and start it again with its data. The process dies with the test run even if pytest itself is
killed (PR_SET_PDEATHSIG), and is always stopped in teardown. In CI (CI=true) a missing
nats-server fails the session instead of skipping.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child before exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def nats_server_binary() -> str:
    found = shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )
    if found is None:
        message = "nats-server is not installed (apt-get install nats-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


class NatsServer:
    def __init__(self, binary: str, *, jetstream: bool = True, options: Sequence[str] = ()) -> None:
        self.binary = binary
        self.jetstream = jetstream
        self.options = list(options)  # e.g. --user/--pass, --tlsverify ...
        self.dir = Path(tempfile.mkdtemp(prefix="caudal-nats-"))
        self.port = free_port()
        self.monitor_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    def start(self) -> None:
        args = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port)]
        args += ["-sd", str(self.dir / "store"), "-l", str(self.dir / "nats.log")]
        args += (["-js"] if self.jetstream else []) + self.options
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited: {(self.dir / 'nats.log').read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                health = "/healthz?js-enabled-only=true" if self.jetstream else "/healthz"
                if httpx.get(f"{self.monitor_url}{health}").is_success:
                    return
            time.sleep(0.05)
        raise RuntimeError("nats-server did not become healthy in 20 s")

    def kill(self) -> None:
        """kill -9: no clean shutdown, the store is left as a crash leaves it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def jsz(self) -> dict[str, object]:
        """JetStream's monitoring endpoint, with stream details."""
        data: dict[str, object] = httpx.get(f"{self.monitor_url}/jsz?streams=true").json()
        return data

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def running_nats(*, jetstream: bool = True, options: Sequence[str] = ()) -> Iterator[NatsServer]:
    server = NatsServer(nats_server_binary(), jetstream=jetstream, options=options)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    with running_nats() as server:
        yield server


BACKENDS = ("postgres", "nats")


@dataclass
class BusBackend:
    """What puts `caudal` processes on one bus backend: `env` to add to theirs."""

    name: str
    env: dict[str, str]
    server: NatsServer | None = None


@pytest.fixture(params=BACKENDS)
def bus_backend(request: pytest.FixtureRequest) -> Iterator[BusBackend]:
    """Nothing for `postgres`; a private `nats-server -js` (file storage) for `nats`. Request it
    before `fleet`: it is then torn down after the fleet's processes stopped, and the server is
    stopped and its store removed even if the test killed it with SIGKILL."""
    if request.param == "postgres":
        yield BusBackend("postgres", {})
        return
    with running_nats() as server:
        env = {"CAUDAL_BUS__BACKEND": "nats", "CAUDAL_BUS__NATS_URL": server.url}
        yield BusBackend("nats", env, server)
