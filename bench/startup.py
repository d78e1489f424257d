"""Cold and warm start of `caudal up`: time from process start to `/readyz` = 200; and the
start-up of the other commands (`--commands`): wall and CPU time of `caudal --help`,
`caudal worker --help`, `caudal token --admin`, and of `caudal worker` from spawn to its
"running N service(s)" line (its consumers' first fetch follows at once), on a migrated home
whose embedded server is kept running by a `caudal scheduler` beside it.

    .venv/bin/python bench/startup.py [--runs 3] [--commands]

The first start on a fresh CAUDAL_HOME includes initdb of the embedded PostgreSQL and every
migration; later starts reuse the data directory. CPU time is the process's own (user + system,
from /proc), which a loaded machine inflates far less than the wall time.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(home: str) -> float:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUDAL_")}
    env["CAUDAL_HOME"] = home
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "caudal", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit("caudal up exited before it was ready")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=0.5).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUDAL_")}
    env["CAUDAL_HOME"] = home
    return env


def _command(home: str, *args: str) -> tuple[float, float]:
    """Wall and CPU seconds of one `caudal ...` run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "caudal", *args],
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _worker(home: str) -> tuple[float, float]:
    """Wall and CPU seconds of `caudal worker` from spawn to its "running" line."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "caudal", "worker"],
        env=_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            if line.startswith("running "):
                return time.perf_counter() - started, _cpu_seconds(proc.pid)
        raise SystemExit("caudal worker exited before it ran")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


def commands(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="caudal-start-") as home:
        _command(home, "migrate")
        holder = subprocess.Popen(  # keeps the embedded server up between the runs
            [sys.executable, "-m", "caudal", "scheduler"],
            env=_env(home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(3)
            cases = {
                "caudal --help": lambda: _command(home, "--help"),
                "caudal worker --help": lambda: _command(home, "worker", "--help"),
                "caudal token --admin": lambda: _command(home, "token", "--admin"),
                "caudal worker (to running)": lambda: _worker(home),
            }
            for name, case in cases.items():
                figures = [case() for _ in range(runs)]
                print(
                    f"{name}: median wall {statistics.median(w for w, _ in figures):.2f}s, "
                    f"median CPU {statistics.median(c for _, c in figures):.2f}s ({runs} runs)"
                )
        finally:
            holder.send_signal(signal.SIGTERM)
            holder.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--commands", action="store_true", help="the other commands' start-up")
    args = parser.parse_args()
    if args.commands:
        commands(args.runs)
        return
    cold, warm = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="caudal-start-") as home:
            cold.append(_start(home))
            warm.append(_start(home))
    print(
        f"cold start (fresh home), {args.runs} runs: median {statistics.median(cold):.2f}s, "
        f"max {max(cold):.2f}s"
    )
    print(
        f"warm start (existing home), {args.runs} runs: median {statistics.median(warm):.2f}s, "
        f"max {max(warm):.2f}s"
    )


if __name__ == "__main__":
    main()
