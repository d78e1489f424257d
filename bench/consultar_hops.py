"""CPU of our own hops of a `/clientes/{cpf}/consultar` request, each alone, source trees
alternated: the request-context middleware around an app that answers at once (log level
`warning` as the benchmarks run, `info` as `caudal api` does by default), a lean route's handler
around an endpoint that returns a ready response, and the CPF check + blind index.

    .venv/bin/python bench/consultar_hops.py --tree main=/tmp/main/src --tree this=src

A whole request is ~400-900 µs of CPU on this machine and moves by ±10 % with the neighbours'
load, more than these hops weigh together; alone, in one process per tree and alternated,
they compare. Prints each tree's median µs per call and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# module level: the endpoint's annotations are resolved in these globals (a lean route must
# be declared to return a Response)
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

CALLS = 20_000


async def _hops() -> dict[str, Callable[[], Awaitable[None]]]:
    from caudal.customers import cpf as cpf_rules
    from caudal.customers.crypto import blind
    from caudal.platform import logging as caudal_logging
    from caudal.platform.http import lean
    from caudal.platform.http.middleware import RequestContextMiddleware

    class Route:
        path = "/clientes/{cpf}/consultar"

    async def answer(scope: Any, receive: Any, send: Any) -> None:
        scope["route"] = Route
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    def scope() -> dict[str, Any]:
        return {
            "type": "http",
            "method": "GET",
            "path": "/clientes/10000000019/consultar",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"bench"), (b"authorization", b"Bearer x")],
            "state": {},
        }

    middleware = RequestContextMiddleware(answer, 1 << 20, 2.0)
    router = APIRouter()
    body = b"x" * 464

    @router.get("/clientes/{cpf}/consultar")
    async def endpoint(request: Request, cpf: str) -> Response:
        return Response(body, media_type="application/json")

    route = router.routes[0]
    assert isinstance(route, APIRoute)
    served = lean.lean_app(route)
    assert served is not None
    key = os.urandom(32)

    async def with_middleware(level: str) -> None:
        caudal_logging.configure(level, stream=io.StringIO(), log_format="json")
        for _ in range(CALLS):
            await middleware(scope(), receive, send)

    async def warning() -> None:
        await with_middleware("warning")

    async def info() -> None:
        await with_middleware("info")

    async def lean_route() -> None:
        for _ in range(CALLS):
            request_scope = {**scope(), "path_params": {"cpf": "10000000019"}}
            await served(request_scope, receive, send)

    cpfs = [cpf_rules.with_check_digits(f"{100_000_000 + n}") for n in range(1000)]

    async def cpf_index() -> None:
        for n in range(CALLS):
            blind.cpf_index(key, cpf_rules.normalize(cpfs[n % 1000]))

    return {
        "middleware (warning)": warning,
        "middleware (info)": info,
        "lean route": lean_route,
        "CPF check + index": cpf_index,
    }


async def serve() -> None:
    """Worker: answer each line of stdin with one JSON line, µs of CPU per call per hop."""
    hops = await _hops()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while (await loop.run_in_executor(None, sys.stdin.readline)).strip():
        costs = {}
        for name, hop in hops.items():
            started = time.process_time()
            await hop()
            costs[name] = (time.process_time() - started) / CALLS * 1e6
        print(json.dumps(costs), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tree", action="append", default=[], help="name=path/to/src")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(serve())
        return
    trees = dict(spec.split("=", 1) for spec in args.tree)
    workers = {}
    for name, src in trees.items():
        env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
        worker = subprocess.Popen(
            [sys.executable, __file__, "--worker"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        workers[name] = worker
    costs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    try:
        for i in range(args.rounds):
            for name in list(trees) if i % 2 == 0 else list(reversed(trees)):
                worker = workers[name]
                assert worker.stdin is not None and worker.stdout is not None
                worker.stdin.write("go\n")
                worker.stdin.flush()
                costs[name].append(json.loads(worker.stdout.readline()))
    finally:
        for worker in workers.values():
            worker.communicate("\n", timeout=60)
    first = costs[next(iter(trees))]
    with open("/proc/loadavg") as f:
        print("load average", " ".join(f.read().split()[:3]))
    for hop in first[0]:
        for name, runs in costs.items():
            ratio = statistics.median(r[hop] / f[hop] for r, f in zip(runs, first, strict=True))
            print(
                f"{hop}: {name} median {statistics.median(r[hop] for r in runs):.2f} µs"
                f" (min {min(r[hop] for r in runs):.2f}), ratio {ratio:.3f}"
            )


if __name__ == "__main__":
    main()
