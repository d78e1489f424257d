"""What the HTTP benchmarks share: an embedded PostgreSQL, API processes on one port
(SO_REUSEPORT, like `caudal api` behind a balancer), a no-op app on the same server stack, and
`wrk` (Debian's package) as the load generator.

Not a benchmark itself: `ingest_http.py`, `customers_consultar.py` and `hot_path.py` import it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request, Response  # module level: the no-op's annotations resolve here

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
SUPPORT = Path(__file__).resolve()
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")  # pip install py-spy

# One script for every run: a fixed request (METHOD, BODY_FILE) or a random/sequential pick from
# PATHS_FILE; the bearer token when AUTH=1. `done` prints one JSON line that `wrk()` parses.
LUA = r"""
local method = os.getenv("METHOD") or "GET"
local headers = {}
if os.getenv("AUTH") == "1" then headers["Authorization"] = "Bearer " .. os.getenv("TOKEN") end
local body = nil
if os.getenv("BODY_FILE") and os.getenv("BODY_FILE") ~= "" then
  local f = io.open(os.getenv("BODY_FILE"), "rb")
  body = f:read("*a")
  f:close()
  headers["Content-Type"] = "application/json"
end
local paths = nil
if os.getenv("PATHS_FILE") and os.getenv("PATHS_FILE") ~= "" then
  paths = {}
  for line in io.lines(os.getenv("PATHS_FILE")) do paths[#paths + 1] = line end
end
local sequential = os.getenv("MODE") == "sequential"
local counter = 0
request = function()
  local path = wrk.path
  if paths then
    counter = counter + 1
    path = sequential and paths[((counter - 1) % #paths) + 1] or paths[math.random(#paths)]
  end
  return wrk.format(method, path, headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p99_us\": %d, " ..
    "\"non2xx\": %d, \"errors\": %d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPU(s)"


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")


# ---- servers (run as `python bench/_support.py serve|noop PORT`) -----------------------------


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    return sock


def _run_uvicorn(app: Any, port: int) -> None:
    import uvicorn

    config = uvicorn.Config(
        app, log_config=None, access_log=False, server_header=False, backlog=2048
    )
    uvicorn.Server(config).run(sockets=[_listen(port)])


def serve_caudal(port: int) -> None:
    """The real API (no background services), configured from CAUDAL_* variables."""
    from caudal import wiring
    from caudal.bus.adapters import build_bus
    from caudal.platform import collector
    from caudal.platform.bootstrap import bootstrap
    from caudal.platform.http.app import create_app

    container = bootstrap(bus=build_bus, migrate=False)
    app = create_app(container, wiring.capabilities(), run_services=False)
    collector.tune_for_streaming()  # as `caudal api` does once the app is built
    _run_uvicorn(app, port)


def noop_app() -> Any:
    """The baseline: FastAPI on the same server, reading the same body, doing nothing with it.

    `Request` and `Response` are imported at module level: with `from __future__ import
    annotations` FastAPI resolves a handler's annotations in the module's globals, and a
    `Request` it cannot resolve becomes a required query parameter (every POST a 422 that never
    read the body)."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/{path:path}")
    async def accept(request: Request, path: str) -> Response:
        await request.body()
        return Response(b'{"accepted":[]}', status_code=202, media_type="application/json")

    @app.get("/{path:path}")
    async def answer(path: str) -> Response:
        return Response(b"{}", media_type="application/json")

    return app


def serve_noop(port: int) -> None:
    _run_uvicorn(noop_app(), port)


# ---- orchestration ---------------------------------------------------------------------------


def env_for(home: Path, owner_url: str, log_level: str = "warning", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUDAL_")}
    env.update(
        {
            "CAUDAL_HOME": str(home),
            "CAUDAL_DATABASE_URL": owner_url,
            "CAUDAL_AUTH__SECRET": SECRET,
            "CAUDAL_LOG_LEVEL": log_level,
            "CAUDAL_DATABASE_POOL_MAX": "10",
            **extra,
        }
    )
    return env


def wait_ready(base: str, timeout: float = 90, path: str = "/readyz") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}{path}", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} never became ready")


class Processes:
    """Child processes stopped (SIGTERM, then SIGKILL) when the `with` block ends."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            list(args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.procs.append(proc)
        return proc

    def api(self, kind: str, port: int, env: dict[str, str], count: int = 1) -> str:
        """`count` processes of `serve_caudal` (kind "serve") or `serve_noop` (kind "noop")."""
        for _ in range(count):
            self.start([sys.executable, str(SUPPORT), kind, str(port)], env)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, path="/readyz" if kind == "serve" else "/ready")
        return base

    def stop(self, procs: Sequence[subprocess.Popen[bytes]] | None = None) -> None:
        targets = list(self.procs if procs is None else procs)
        for proc in targets:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in targets:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.procs.remove(proc)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def embedded_database(url: str | None = None) -> Iterator[tuple[Path, Path, str]]:
    """(work dir, CAUDAL_HOME, owner URL) of a fresh, migrated embedded PostgreSQL, or of the
    (empty) database at `url` (e.g. a server with pg_stat_statements loaded)."""
    from caudal.platform.bootstrap import run_migrations
    from caudal.platform.db.embedded import EmbeddedPostgres
    from caudal.platform.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="caudal-bench-"))
    home = work / "home"
    home.mkdir()
    embedded = EmbeddedPostgres(home) if url is None else None
    # SIGTERM (`kill`, `timeout`) unwinds like Ctrl-C, so the `with` blocks stop the bench's
    # `caudal` processes and this server: left to the default action, both outlived the bench.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        owner_url = embedded.start() if embedded is not None else str(url)
        run_migrations(Settings(home=home), owner_url)
        yield work, home, owner_url
    finally:
        try:
            if embedded is not None:
                embedded.stop()
            shutil.rmtree(work, ignore_errors=True)
        finally:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


# ---- profiles (bench/profiles/README.md) -------------------------------------------------------


class Profiles:
    """py-spy samples of the processes under load and pg_stat_statements of the database, each
    summarised as text (top frames, top statements) into `directory`; inactive without it."""

    def __init__(self, directory: Path | None, owner_url: str = "") -> None:
        self.directory = directory
        self.owner_url = owner_url
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, pids: Sequence[int], seconds: float) -> None:
        if self.directory is None:
            return
        for pid in pids:
            raw = self.directory / f"{name}.{pid}.raw"
            command = [PY_SPY, "record", "--pid", str(pid), "--duration", str(int(seconds))]
            proc = subprocess.Popen(
                [*command, "--rate", "50", "--nonblocking", "--format", "raw", "-o", str(raw)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.running.append((proc, raw))
        if self.owner_url:
            self._sql("SELECT pg_stat_statements_reset()")

    def finish(self, name: str, events: int = 0) -> None:
        """Write `<name>.txt`: per process, the hottest frames; then the top statements."""
        if self.directory is None:
            return
        lines: list[str] = [f"# {name} ({events:,} events)" if events else f"# {name}"]
        for proc, raw in self.running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
            proc.wait(timeout=120)
            if raw.exists():
                lines += summarise_stacks(raw)  # the raw stacks stay, for a flame graph
        self.running.clear()
        if self.owner_url:
            lines += self._statements(events)
        (self.directory / f"{name}.txt").write_text("\n".join(lines) + "\n")

    def _sql(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.owner_url, autocommit=True) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]

    def _statements(self, events: int) -> list[str]:
        rows = self._sql(
            "SELECT calls, total_exec_time, rows,"
            " regexp_replace(left(query, 110), '\\s+', ' ', 'g')"
            " FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 10"
        )
        per = "µs/event" if events else "µs/call"
        out = [
            "",
            f"pg_stat_statements (top 10 by total time)  calls  total ms  {per}  rows  query",
        ]
        for calls, total, nrows, query in rows:
            unit = total * 1000 / (events or max(calls, 1))
            out.append(f"  {calls:>8} {total:>10.0f} {unit:>9.1f} {nrows:>9}  {query}")
        return out


def summarise_stacks(raw: Path, top: int = 25) -> list[str]:
    """py-spy's collapsed stacks -> the frames with the most samples, self and inclusive."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [
            f.split(" (")[0] + " (" + f.rsplit("/", 1)[-1] if " (" in f else f
            for f in stack.split(";")
        ]
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    out = ["", f"py-spy {raw.stem}: {total} samples (50/s, all threads)", "  self %  frame"]
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"  {100 * count / max(total, 1):5.1f}  {frame}")
    out.append("  incl %  frame")
    for frame, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"  {100 * count / max(total, 1):5.1f}  {frame}")
    return out


def frontend_event(i: int, devices: int = 64) -> Any:
    """The i-th canonical event of a frontend load like `ingest_http.frontend_body`'s (clicks
    and add_to_cart, 20 per trace key), over `devices` devices: what the intake makes of them."""
    from datetime import UTC, datetime

    from caudal.events.model import CanonicalEvent

    data: dict[str, Any] = {"timestamp": "2020-10-12T20:01:14-0300"}
    if not i % 2:
        data.update(userId=7, productId=3, quantity=1)
    return CanonicalEvent(
        source="frontend",
        type="click_button_help" if i % 2 else "add_to_cart",
        version="1.0",
        occurred_at=datetime(2020, 10, 12, 23, 1, 14, tzinfo=UTC),
        received_at=datetime.now(UTC),
        data=data,
        trace_key=f"bench-{i // 20}",
        device={"platform": "Android", "deviceId": f"device-{i % devices:04d}"},
    )


def mint(scopes: list[str]) -> str:
    from caudal.platform.auth import TokenService
    from caudal.platform.settings import AuthSettings

    return TokenService(AuthSettings(), SECRET).mint("bench", scopes, 3600)


def wrk(
    url: str,
    concurrency: int,
    seconds: float,
    lua: Path,
    *,
    method: str = "GET",
    token: str = "",
    body_file: Path | None = None,
    paths_file: Path | None = None,
    mode: str = "random",
) -> dict[str, Any]:
    """One `wrk -t1` run; returns requests, rps, p50_us, p99_us, non2xx, errors."""
    env = {
        **os.environ,
        "METHOD": method,
        "TOKEN": token,
        "AUTH": "1" if token else "0",
        "BODY_FILE": str(body_file or ""),
        "PATHS_FILE": str(paths_file or ""),
        "MODE": mode,
    }
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds:g}s", "--timeout", "5s"]
    result = subprocess.run(
        [*command, "-s", str(lua), url], env=env, capture_output=True, text=True, check=True
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    data: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def write_lua(work: Path) -> Path:
    lua = work / "bench.lua"
    lua.write_text(LUA)
    return lua


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


if __name__ == "__main__":
    kind, port_arg = sys.argv[1], int(sys.argv[2])
    {"serve": serve_caudal, "noop": serve_noop}[kind](port_arg)
