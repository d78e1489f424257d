"""Ingestion throughput and latency over real HTTP, next to a no-op endpoint, plus end-to-end delay.

    .venv/bin/python bench/ingest_http.py                      # 1 API process, c=16,64
    .venv/bin/python bench/ingest_http.py --api-procs 2 --concurrency 32,128 --duration 10

What runs, all on this machine:
- an embedded PostgreSQL (pgserver), migrated;
- N API processes (the real app: auth, validation, one DB transaction per request) sharing one
  port with SO_REUSEPORT, like `caudal api` behind a load balancer;
- `wrk` (Debian's package) as the load generator: per concurrency, `GET /healthz` (no-op, same
  server, same run) then `POST /v1/events/frontend` with 1 and with 20 events per request;
- with `--e2e`: then a `caudal worker` process; the time it takes to drain the backlog the load
  runs left (to realtime and to the lake), and, idle, the delay from each 202 until the event is
  visible in `/v1/monitor/events` and in the lake's Parquet files (lake flush age 1 s).

Prints req/s, events/s, p50/p99 and each ingestion run as a share of the no-op req/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import _support as bench
import httpx
from _support import pct


def frontend_body(events: int) -> bytes:
    items = [
        {
            "timestamp": "2020-10-12T20:01:14-0300",
            "event_id": "click_button_help" if i % 2 else "add_to_cart",
            **({"userId": 7, "productId": 3, "quantity": 1} if not i % 2 else {}),
        }
        for i in range(events)
    ]
    body = {"device": {"platform": "Android", "deviceId": "je28c5slx5aoj1bx4"}, "data": items}
    return json.dumps(body).encode()


def e2e_delays(base: str, token: str, lake_root: Path, samples: int) -> dict[str, list[float]]:
    import pyarrow.parquet as pq

    headers = {"Authorization": f"Bearer {token}"}
    realtime: list[float] = []
    lake: list[float] = []
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        for _ in range(samples):
            device = f"bench-{uuid.uuid4().hex[:12]}"
            body = {
                "device": {"platform": "Android", "deviceId": device},
                "data": [{"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_e2e"}],
            }
            response = http.post("/v1/events/frontend", json=body)
            accepted = time.perf_counter()
            assert response.status_code == 202, response.text
            event_id = response.json()["accepted"][0]["id"]
            seen_rt = seen_lake = None
            while (seen_rt is None or seen_lake is None) and time.perf_counter() - accepted < 30:
                if seen_rt is None:
                    found = http.get("/v1/monitor/events", params={"device": device}).json()
                    if found["items"]:
                        seen_rt = time.perf_counter() - accepted
                if seen_lake is None:
                    for path in lake_root.glob("frontend/click_e2e/dt=*/*.parquet"):
                        ids = pq.read_table(path, columns=["id"]).column("id").to_pylist()
                        if event_id in ids:
                            seen_lake = time.perf_counter() - accepted
                            break
                time.sleep(0.02)
            if seen_rt is not None:
                realtime.append(seen_rt)
            if seen_lake is not None:
                lake.append(seen_lake)
    return {"realtime": realtime, "lake": lake}


def drain(base: str, token: str, lake_root: Path, total: int, started: float) -> dict[str, float]:
    import pyarrow.parquet as pq

    done: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        while len(done) < 2 and time.perf_counter() - started < 600:
            if "realtime" not in done:
                counted = http.get("/v1/monitor/rates", params={"since": "1h"}).json()["total"]
                if counted >= total:
                    done["realtime"] = time.perf_counter() - started
            if "lake" not in done:
                rows = sum(
                    pq.ParquetFile(p).metadata.num_rows
                    for p in lake_root.glob("*/*/dt=*/*.parquet")
                )
                if rows >= total:
                    done["lake"] = time.perf_counter() - started
            time.sleep(0.5)
    return done


def wrk(
    url: str, method: str, concurrency: int, seconds: int, token: str, body_file: Path, lua: Path
) -> dict[str, Any]:
    public = url.endswith("/healthz")
    body = body_file if method == "POST" else None
    token = "" if public else token
    return bench.wrk(url, concurrency, seconds, lua, method=method, token=token, body_file=body)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--api-procs", type=int, default=1, help="API processes (SO_REUSEPORT).")
    parser.add_argument("--concurrency", default="16,64", help="Comma-separated connections.")
    parser.add_argument("--batches", default="1,20", help="Events per request, comma-separated.")
    parser.add_argument("--duration", type=int, default=8, help="Seconds per wrk run.")
    parser.add_argument("--log-level", default="warning", help="Server log level.")
    parser.add_argument("--e2e", action="store_true", help="Also measure 202 -> realtime/lake.")
    parser.add_argument("--samples", type=int, default=20, help="End-to-end samples.")
    args = parser.parse_args()
    bench.require_wrk()

    with bench.embedded_database() as (work, home, owner_url), bench.Processes() as procs:
        token = bench.mint(["events:write", "monitor:read"])
        env = bench.env_for(
            home,
            owner_url,
            args.log_level,
            CAUDAL_LAKE__FLUSH_MAX_SECONDS="1",
            CAUDAL_BUS__POLL_INTERVAL_SECONDS="0.2",
        )
        base = procs.api("serve", bench.free_port(), env, args.api_procs)
        lua = bench.write_lua(work)
        print(
            f"caudal ingestion bench: {args.api_procs} API process(es), {os.cpu_count()} CPU(s), "
            f"wrk -t1, {args.duration}s per run, server log level {args.log_level}"
        )
        header = (
            f"{'endpoint':<28}{'conc':>6}{'req/s':>10}{'events/s':>11}{'p50 ms':>9}"
            f"{'p99 ms':>9}{'non2xx':>8}{'vs no-op':>10}"
        )
        print(header)
        print("-" * len(header))
        warm = work / "warm.json"
        warm.write_bytes(frontend_body(1))
        warmup = wrk(f"{base}/v1/events/frontend", "POST", 8, 2, token, warm, lua)
        accepted = warmup["requests"] - warmup["non2xx"]
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            noop = wrk(f"{base}/healthz", "GET", concurrency, args.duration, token, warm, lua)
            print(
                f"{'GET /healthz (no-op)':<28}{concurrency:>6}{noop['rps']:>10.0f}{'':>11}"
                f"{noop['p50_us'] / 1000:>9.2f}{noop['p99_us'] / 1000:>9.2f}"
                f"{noop['non2xx']:>8}{'':>10}"
            )
            auth = wrk(f"{base}/v1/whoami", "GET", concurrency, args.duration, token, warm, lua)
            print(
                f"{'GET /v1/whoami (JWT only)':<28}{concurrency:>6}{auth['rps']:>10.0f}{'':>11}"
                f"{auth['p50_us'] / 1000:>9.2f}{auth['p99_us'] / 1000:>9.2f}"
                f"{auth['non2xx']:>8}{auth['rps'] / noop['rps']:>9.0%}"
            )
            for events in [int(b) for b in args.batches.split(",")]:
                body_file = work / f"body-{events}.json"
                body_file.write_bytes(frontend_body(events))
                run = wrk(
                    f"{base}/v1/events/frontend",
                    "POST",
                    concurrency,
                    args.duration,
                    token,
                    body_file,
                    lua,
                )
                accepted += (run["requests"] - run["non2xx"]) * events
                label = f"POST frontend x{events}"
                print(
                    f"{label:<28}{concurrency:>6}{run['rps']:>10.0f}{run['rps'] * events:>11.0f}"
                    f"{run['p50_us'] / 1000:>9.2f}{run['p99_us'] / 1000:>9.2f}"
                    f"{run['non2xx']:>8}{run['rps'] / noop['rps']:>9.0%}"
                )
        if args.e2e:
            # The worker starts after the load runs (they measured the API alone): first it
            # drains the backlog they left on the bus, then the idle end-to-end delay is sampled.
            started = time.perf_counter()
            procs.start([sys.executable, "-m", "caudal", "worker"], env)
            drained = drain(base, token, home / "lake", accepted, started)
            for where, seconds in drained.items():
                print(
                    f"worker drain of {accepted} events -> {where:<9} {seconds:6.1f} s "
                    f"({accepted / seconds:,.0f} events/s, including the worker's start)"
                )
            delays = e2e_delays(base, token, home / "lake", args.samples)
            for where, values in delays.items():
                worst = max(values, default=float("nan"))
                print(
                    f"end-to-end 202 -> {where:<9} samples={len(values):>3} "
                    f"p50={pct(values, 0.5) * 1000:.0f} ms  max={worst * 1000:.0f} ms"
                )


if __name__ == "__main__":
    main()
