"""CPU per request of the real API in this process: `/clientes/{cpf}/consultar`,
`POST /v1/events/backend` and `POST /v1/events/frontend` with 1 and 20 events (the bodies of
`bench/hot_path.py`), 16 requests in flight, driven straight through ASGI (no socket, no
uvicorn, PostgreSQL in its own process and not counted). CPU time, not wall time, so the figure
holds on a machine other work is loading; compare source trees by pointing PYTHONPATH at them:

    .venv/bin/python bench/http_cpu.py                          # this tree
    PYTHONPATH=/path/to/other/src .venv/bin/python bench/http_cpu.py --profile /tmp/p

With `--profile DIR`, a cProfile (CPU-time clock) of each route is written to DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _support as bench
import customers_consultar
import hot_path
from ingest_http import frontend_body

Make = Callable[[int], tuple[dict[str, Any], bytes]]
BODY = json.dumps(hot_path.BACKEND_BODY).encode()
FRONTEND = {n: frontend_body(n) for n in (1, 20)}


def scope(method: str, path: str, token: str, body: bytes = b"") -> dict[str, Any]:
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
        "query_string": b"",
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


async def measure(home: Path, owner_url: str, args: argparse.Namespace) -> None:
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
    cpfs = [customers_consultar.cpf_of(n) for n in range(args.customers)]
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
    }
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", type=Path)
    parser.add_argument(
        "--rows", nargs="*", help="only these rows: consultar backend frontend1 frontend20"
    )
    args = parser.parse_args()
    print(bench.load_average(), flush=True)
    with bench.embedded_database() as (_, home, owner_url):
        asyncio.run(customers_consultar.load(home, owner_url, args.customers, 0))
        asyncio.run(measure(home, owner_url, args))


if __name__ == "__main__":
    main()
