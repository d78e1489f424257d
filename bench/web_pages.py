"""Dashboard cost: how fast the pages and the live overview answer with a busy hour of events.

    .venv/bin/python bench/web_pages.py                         # 20,000 events, 200 requests
    .venv/bin/python bench/web_pages.py --events 50000 --requests 400 --concurrency 1,8

What runs, all on this machine: `caudal up` (embedded PostgreSQL, API, workers) in a fresh
CAUDAL_HOME; N Android/iOS click events over 40 types posted through `POST /v1/events/frontend`
(20 per request) and waited for in the realtime store; then one signed-in browser session
(cookie) asks, at each concurrency, for the overview page (`/`, which builds the whole live
snapshot: per-minute rates, quarantine, bus lag, pipeline runs), one overview stream event
(`/ui/stream/overview`, time to the first `event: overview`), and the events explorer filtered by
type. Prints requests/s and p50/p99 latency for each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(home: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUDAL_")}
    env.update(CAUDAL_HOME=str(home), CAUDAL_LOG_LEVEL="warning")
    proc = subprocess.Popen(
        [sys.executable, "-m", "caudal", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    token = ""
    deadline = time.monotonic() + 120
    while not token and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("eyJ"):
            token = line.strip()
    base = f"http://127.0.0.1:{port}"
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return proc, token
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("caudal up did not become ready")


async def load(base: str, token: str, events: int) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    bodies = [
        {
            "device": {
                "platform": ("Android", "iOS")[i % 2],
                "deviceId": f"benchdevice{i % 500:05d}",
            },
            "data": [
                {"timestamp": now, "event_id": f"click_bench_{(i * 20 + j) % 40:02d}"}
                for j in range(20)
            ],
        }
        for i in range(events // 20)
    ]
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        sem = asyncio.Semaphore(16)

        async def post(body: dict[str, object]) -> None:
            async with sem:
                r = await client.post("/v1/events/frontend", json=body)
                r.raise_for_status()

        await asyncio.gather(*(post(b) for b in bodies))
        while True:
            rates = (await client.get("/v1/monitor/rates", params={"since": "1h"})).json()
            if rates["total"] >= events:
                break
            await asyncio.sleep(0.5)
    return time.perf_counter() - started


def sign_in(base: str, token: str) -> httpx.Cookies:
    with httpx.Client(base_url=base) as client:
        form = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        done = client.post("/login", data={"csrf": csrf.group(1), "token": token, "next": "/"})
        assert done.status_code == 303, done.text
        return client.cookies


async def first_stream_event(client: httpx.AsyncClient) -> None:
    async with client.stream("GET", "/ui/stream/overview") as response:
        response.raise_for_status()
        async for chunk in response.aiter_text():
            if "event: overview" in chunk:
                return


async def measure(
    base: str, cookies: httpx.Cookies, name: str, requests: int, concurrency: int
) -> None:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, cookies=cookies, timeout=60) as client:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                t = time.perf_counter()
                if name == "stream":
                    await first_stream_event(client)
                else:
                    path = "/" if name == "overview" else "/events?type=click_bench_07"
                    r = await client.get(path)
                    assert r.status_code == 200, r.status_code
                latencies.append(time.perf_counter() - t)

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(
        f"{name:9s} c={concurrency:<3d} {requests / elapsed:8.1f} req/s"
        f"   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", default="1,8")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="caudal-bench-web-") as tmp:
        port = free_port()
        proc, token = start(Path(tmp) / "home", port)
        base = f"http://127.0.0.1:{port}"
        try:
            took = asyncio.run(load(base, token, args.events))
            print(f"loaded {args.events} events over 40 types in {took:.1f}s (ingest + realtime)")
            cookies = sign_in(base, token)
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                for name in ("overview", "stream", "explorer"):
                    asyncio.run(measure(base, cookies, name, args.requests, concurrency))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
