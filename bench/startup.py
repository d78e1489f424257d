"""Cold and warm start of `caudal up`: time from process start to `/readyz` = 200.

    .venv/bin/python bench/startup.py [--runs 3]

The first start on a fresh CAUDAL_HOME includes initdb of the embedded PostgreSQL and every
migration; later starts reuse the data directory.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
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
