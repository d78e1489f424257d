"""CPU per request of the real API in this process: `/clientes/{cpf}/consultar`,
`POST /v1/events/backend` and `POST /v1/events/frontend` with 1 and 20 events (the bodies of
`bench/hot_path.py`), 16 requests in flight, driven straight through ASGI (no socket, no
uvicorn, PostgreSQL in its own process and not counted). CPU time, not wall time, so the figure
holds on a machine other work is loading; compare source trees by pointing PYTHONPATH at them:

    .venv/bin/python bench/http_cpu.py                          # this tree
    PYTHONPATH=/path/to/other/src .venv/bin/python bench/http_cpu.py --profile /tmp/p

With `--profile DIR`, a cProfile (CPU-time clock) of each route is written to DIR.

With `--tree name=path/to/src` (twice or more) the trees are compared in the same minutes: one
database, one process per tree (its app built once), bursts of `--requests` alternated between
the trees `--rounds` times; it prints each tree's median and the median of the per-round ratios
(steadier than whole runs on a machine whose load moves):

    .venv/bin/python bench/http_cpu.py --tree main=/tmp/main/src --tree this=src --requests 1500
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _support as bench
import customers_consultar
import hot_path
from ingest_http import frontend_body

Make = Callable[[int], tuple[dict[str, Any], bytes]]
BODY = json.dumps(hot_path.BACKEND_BODY).encode()
FRONTEND = {n: frontend_body(n) for n in (1, 20)}


def scope(
    method: str, path: str, token: str, body: bytes = b"", query: bytes = b""
) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {token}".encode())]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def drive(app: Any, make: Make, count: int, concurrency: int) -> tuple[float, dict[int, int]]:
    """(µs of this process's CPU per request, responses by status)."""
    statuses: dict[int, int] = {}

    async def one(i: int) -> None:
        request, body = make(i)
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1

        await app(request, receive, send)

    todo = iter(range(count))

    async def worker() -> None:
        for i in todo:
            await one(i)

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - started) / count * 1e6, statuses


def flowapi_query() -> bytes:
    return (
        "Branch=0001&Account=000000042&Amount=10.50&DebitCredit=C&EventCode=5&Description=pdv"
        f"&TraceKey={uuid.uuid4()}&DateRef={datetime.now(UTC).date().isoformat()}"
    ).encode()


def build(home: Path, owner_url: str, customers: int) -> tuple[Any, dict[str, Make]]:
    """The real app of this process's source tree, and a request maker per route."""
    os.environ.update(
        CAUDAL_HOME=str(home),
        CAUDAL_DATABASE_URL=owner_url,
        CAUDAL_AUTH__SECRET=bench.SECRET,
        CAUDAL_LOG_LEVEL="warning",
        CAUDAL_DATABASE_POOL_MAX="10",
    )
    from caudal import wiring
    from caudal.bus.adapters import build_bus
    from caudal.platform.bootstrap import bootstrap
    from caudal.platform.http.app import create_app

    app = create_app(bootstrap(bus=build_bus, migrate=False), wiring.capabilities())
    reader, writer = bench.mint(["customers:activity"]), bench.mint(["events:write"])
    ledger = bench.mint(["ledger:write"])
    cpfs = [customers_consultar.cpf_of(n) for n in range(customers)]
    rows: dict[str, Make] = {
        "consultar": lambda i: (
            scope("GET", f"/clientes/{cpfs[(i * 7919) % len(cpfs)]}/consultar", reader),
            b"",
        ),
        "backend": lambda i: (scope("POST", "/v1/events/backend", writer, BODY), BODY),
        "frontend1": lambda i: (
            scope("POST", "/v1/events/frontend", writer, FRONTEND[1]),
            FRONTEND[1],
        ),
        "frontend20": lambda i: (
            scope("POST", "/v1/events/frontend", writer, FRONTEND[20]),
            FRONTEND[20],
        ),
        # Seed 003's write: a new tracekey per request (a reused one would be a replay).
        "flowapi_add": lambda i: (
            scope("PUT", "/api/Transaction/AddTransactionAsync", ledger, query=flowapi_query()),
            b"",
        ),
    }
    return app, rows


async def measure(home: Path, owner_url: str, args: argparse.Namespace) -> None:
    app, rows = build(home, owner_url, args.customers)
    async with app.router.lifespan_context(app):
        for name, make in rows.items():
            if args.rows and name not in args.rows:
                continue
            await drive(app, make, 500, args.concurrency)  # warm: pools, prepared statements
            runs = [await drive(app, make, args.requests, args.concurrency) for _ in range(3)]
            costs = ", ".join(f"{cost:.0f}" for cost, _ in runs)
            print(
                f"{name}: best {min(c for c, _ in runs):.0f} µs CPU/request ({costs}),"
                f" statuses {runs[0][1]}",
                flush=True,
            )
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                profiler = cProfile.Profile(time.process_time)
                profiler.enable()
                await drive(app, make, args.requests, args.concurrency)
                profiler.disable()
                profiler.dump_stats(str(args.profile / f"{name}.prof"))


async def serve_bursts(home: Path, owner_url: str, args: argparse.Namespace) -> None:
    """`--burst-worker`: answer "route count" lines on stdin with one JSON line of CPU µs."""
    from caudal.platform import collector

    app, rows = build(home, owner_url, args.customers)
    loop = asyncio.get_running_loop()
    async with app.router.lifespan_context(app):
        for make in rows.values():
            await drive(app, make, 500, args.concurrency)  # warm: pools, prepared statements
        collector.tune_for_streaming()  # as `caudal api`
        print("ready", flush=True)
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            name, count = line.split()
            cost, statuses = await drive(app, rows[name], int(count), args.concurrency)
            print(json.dumps({"us": cost, "statuses": statuses}), flush=True)


def compare(home: Path, owner_url: str, args: argparse.Namespace) -> None:
    trees = dict(spec.split("=", 1) for spec in args.tree)
    workers: dict[str, subprocess.Popen[str]] = {}
    for name, src in trees.items():
        command = [sys.executable, __file__, "--burst-worker", str(home), owner_url]
        command += ["--customers", str(args.customers), "--concurrency", str(args.concurrency)]
        env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
        worker = subprocess.Popen(
            command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        workers[name] = worker
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready", name
    routes = args.rows or ["consultar", "backend"]
    costs: dict[tuple[str, str], list[float]] = {}
    try:
        for i in range(args.rounds):
            order = list(trees) if i % 2 == 0 else list(reversed(trees))
            for route in routes:
                for name in order:
                    worker = workers[name]
                    assert worker.stdin is not None and worker.stdout is not None
                    worker.stdin.write(f"{route} {args.requests}\n")
                    worker.stdin.flush()
                    answer = json.loads(worker.stdout.readline())
                    assert set(answer["statuses"]) <= {"200", "202"}, (name, answer)
                    costs.setdefault((name, route), []).append(answer["us"])
    finally:
        for worker in workers.values():
            worker.communicate("\n", timeout=60)
    print(bench.load_average(), flush=True)
    first = next(iter(trees))
    for route in routes:
        for name in trees:
            runs = costs[(name, route)]
            ratios = [b / a for a, b in zip(costs[(first, route)], runs, strict=True)]
            print(
                f"{route}: {name} median {statistics.median(runs):.0f} µs CPU/request"
                f" (min {min(runs):.0f}), {name}/{first} median ratio"
                f" {statistics.median(ratios):.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", type=Path)
    parser.add_argument(
        "--rows",
        nargs="*",
        help="only these rows: consultar backend frontend1 frontend20 flowapi_add",
    )
    parser.add_argument("--tree", action="append", default=[], help="name=path/to/src")
    parser.add_argument("--rounds", type=int, default=10, help="Alternations with --tree.")
    parser.add_argument("--burst-worker", nargs=2, metavar=("HOME", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.burst_worker:
        import uvloop  # as uvicorn runs the API

        uvloop.run(serve_bursts(Path(args.burst_worker[0]), args.burst_worker[1], args))
        return
    print(bench.load_average(), flush=True)
    with bench.embedded_database() as (_, home, owner_url):
        asyncio.run(customers_consultar.load(home, owner_url, args.customers, 0))
        if args.tree:
            compare(home, owner_url, args)
        else:
            asyncio.run(measure(home, owner_url, args))


if __name__ == "__main__":
    main()
