"""Base C `/clientes/{cpf}/consultar` throughput and latency, and the score with a warm and a
cold cache, over real HTTP.

    .venv/bin/python bench/customers_consultar.py                     # 100,000 CPFs, c=1,16,64
    .venv/bin/python bench/customers_consultar.py --api-procs 2 --concurrency 8,32,128

What runs, all on this machine:
- an embedded PostgreSQL (pgserver), migrated;
- N API processes (the real app: JWT auth with scope check, CPF validation, blind index, one
  indexed row read) sharing one port with SO_REUSEPORT, like `caudal api` behind a balancer;
- the load: `--customers` CPFs projected into Base C by the real `customers.activity` sink
  (a bureau query, a financial movement and a card purchase each), timed as "projection";
- `wrk` (Debian's package), one thread, requesting random CPFs of the loaded set;
- the score: `--score-customers` customers created in Base A (with score data), then
  `GET /clientes/{id}/score` — cold (every id requested once: computed, audited, cached) and
  warm (the same ids again: served from the cache). In-process cache, or Redis with --redis.

Prints req/s, p50/p99 (wrk's latency percentiles) and non-2xx counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"

LUA = r"""
local paths = {}
local mode = os.getenv("MODE")
for line in io.lines(os.getenv("PATHS_FILE")) do paths[#paths + 1] = line end
local counter = 0
local headers = {["Authorization"] = "Bearer " .. os.getenv("TOKEN")}
request = function()
  local path
  if mode == "sequential" then
    counter = counter + 1
    path = paths[((counter - 1) % #paths) + 1]
  else
    path = paths[math.random(#paths)]
  end
  return wrk.format("GET", path, headers)
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


def serve(port: int) -> None:
    import uvicorn

    from caudal import wiring
    from caudal.bus.adapters import build_bus
    from caudal.platform.bootstrap import bootstrap
    from caudal.platform.http.app import create_app

    container = bootstrap(bus=build_bus, migrate=False)
    app = create_app(container, wiring.capabilities(), run_services=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    config = uvicorn.Config(
        app, log_config=None, access_log=False, server_header=False, backlog=2048
    )
    uvicorn.Server(config).run(sockets=[sock])


def cpf_of(n: int) -> str:
    from caudal.customers.cpf import with_check_digits

    return with_check_digits(f"{100_000_000 + n:09d}")


def activity_events(n: int, now: datetime) -> list[Any]:
    from caudal.events.model import CanonicalEvent

    cpf = cpf_of(n)
    when = (now - timedelta(minutes=n % 10_000)).isoformat()
    blocks = [
        ("bureau-query", {"empresa": "Banco X", "data_consulta": when, "tipo_empresa": "banco"}),
        (
            "financial-movement",
            {
                "tipo_movimentacao": "pix",
                "data_movimentacao": when,
                "valor": "150.25",
                "descricao": "pix",
            },
        ),
        (
            "card-purchase",
            {
                "data_compra": when,
                "valor": "89.90",
                "bandeira_cartao": "visa",
                "produto": "livro",
                "tipo": "credito",
                "codigo_transacao": f"TX{n}",
            },
        ),
    ]
    return [
        CanonicalEvent(
            id=f"bench-{n}-{i}",
            source="backend",
            type=kind,
            version="1.0",
            occurred_at=now,
            received_at=now,
            data={"cpf": cpf, **data},
        )
        for i, (kind, data) in enumerate(blocks)
    ]


async def load(
    home: Path, owner_url: str, customers: int, score_customers: int
) -> tuple[float, float, list[str]]:
    """Project `customers` CPFs into Base C through the sink; create score customers in A/B.
    Returns (projection events/s, customers created/s, ids)."""
    from pydantic import SecretStr

    from caudal.bus.adapters import build_bus
    from caudal.customers import context
    from caudal.customers.audit import Actor
    from caudal.customers.base_a import service as base_a
    from caudal.customers.base_b import service as base_b
    from caudal.customers.base_c.sink import CustomersActivitySink
    from caudal.customers.validation import Cliente, ScoreData
    from caudal.platform.bootstrap import bootstrap
    from caudal.platform.settings import AuthSettings, Settings

    settings = Settings(
        home=home,
        database_url=SecretStr(owner_url),
        auth=AuthSettings(secret=SecretStr(SECRET)),
        database_pool_max=4,
    )
    container = bootstrap(settings, bus=build_bus, migrate=False, configure_logging=False)
    await container.database.open()
    ctx = context.build(container)
    sink = CustomersActivitySink(ctx)
    now = datetime.now(UTC)
    started = time.perf_counter()
    batch: list[Any] = []
    for n in range(customers):
        batch += activity_events(n, now)
        if len(batch) >= 3000:
            await sink.write(batch)
            batch = []
    if batch:
        await sink.write(batch)
    projection_rate = customers * 3 / (time.perf_counter() - started)

    actor = Actor("bench", None)
    ids: list[str] = []
    started = time.perf_counter()
    for n in range(score_customers):
        cliente = Cliente.model_validate(
            {
                "nome": f"Cliente {n} da Silva",
                "cpf": cpf_of(n),
                "data_nascimento": "1980-05-17",
                "endereco": {"uf": "SP", "cidade": "São Paulo", "longadouro": "Rua A", "numero": n},
                "dividas": [{"empresa": "Banco", "valor": "1500.00", "vencimento": "2030-01-01"}],
            }
        )
        _, cid = await base_a.upsert(ctx, actor, cliente)
        await base_b.put_score_data(
            ctx,
            actor,
            cid,
            ScoreData.model_validate(
                {"fontes_de_renda": [{"tipo": "salario", "valor": "4000", "frequencia": "mensal"}]}
            ),
        )
        ids.append(cid)
    create_rate = score_customers / max(time.perf_counter() - started, 1e-9)
    await ctx.cache.close()
    await container.database.close()
    return projection_rate, create_rate, ids


def wrk(
    base: str, paths_file: Path, mode: str, concurrency: int, seconds: float, token: str, lua: Path
) -> dict[str, Any]:
    env = {**os.environ, "TOKEN": token, "PATHS_FILE": str(paths_file), "MODE": mode}
    result = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(lua),
            base,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    data: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def row(label: str, concurrency: int, run: dict[str, Any]) -> str:
    return (
        f"{label:<30}{concurrency:>6}{run['rps']:>10.0f}{run['p50_us'] / 1000:>9.2f}"
        f"{run['p99_us'] / 1000:>9.2f}{run['non2xx'] + run['errors']:>8}{run['requests']:>10}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--customers", type=int, default=100_000, help="CPFs loaded into Base C.")
    parser.add_argument(
        "--score-customers", type=int, default=2000, help="Customers for the score."
    )
    parser.add_argument("--api-procs", type=int, default=1, help="API processes (SO_REUSEPORT).")
    parser.add_argument("--concurrency", default="1,16,64", help="Comma-separated connections.")
    parser.add_argument("--duration", type=int, default=6, help="Seconds per wrk run.")
    parser.add_argument("--redis", action="store_true", help="Score cache in a local redis-server.")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

    from caudal.platform.auth import TokenService
    from caudal.platform.bootstrap import run_migrations
    from caudal.platform.db.embedded import EmbeddedPostgres
    from caudal.platform.settings import AuthSettings, Settings

    work = Path(tempfile.mkdtemp(prefix="caudal-bench-"))
    home = work / "home"
    home.mkdir()
    embedded = EmbeddedPostgres(home)
    owner_url = embedded.start()
    procs: list[subprocess.Popen[bytes]] = []
    redis_ctx: Any = None
    try:
        run_migrations(Settings(home=home), owner_url)
        extra: dict[str, str] = {}
        if args.redis:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            from tests.integration.customers.redis_server import redis_server

            redis_ctx = redis_server()
            extra["CAUDAL_REDIS_URL"] = redis_ctx.__enter__()
        started = time.perf_counter()
        projection_rate, create_rate, ids = asyncio.run(
            load(home, owner_url, args.customers, args.score_customers)
        )
        print(
            f"loaded {args.customers} CPFs into Base C ({args.customers * 3} events through the "
            f"sink, {projection_rate:.0f} events/s) and {args.score_customers} customers into "
            f"Bases A+B ({create_rate:.0f}/s) in {time.perf_counter() - started:.0f}s"
        )
        token = TokenService(AuthSettings(), SECRET).mint(
            "bench", ["customers:activity", "customers:score"], 3600
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAUDAL_")}
        env.update(
            {
                "CAUDAL_HOME": str(home),
                "CAUDAL_DATABASE_URL": owner_url,
                "CAUDAL_AUTH__SECRET": SECRET,
                "CAUDAL_LOG_LEVEL": "warning",
                "CAUDAL_DATABASE_POOL_MAX": "10",
                **extra,
            }
        )
        for _ in range(args.api_procs):
            procs.append(
                subprocess.Popen(
                    [sys.executable, __file__, "--serve", str(port)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the API never became ready")
            time.sleep(0.2)
        lua = work / "bench.lua"
        lua.write_text(LUA)
        consultar = work / "consultar.txt"
        consultar.write_text(
            "".join(f"/clientes/{cpf_of(n)}/consultar\n" for n in range(args.customers))
        )
        scores = work / "scores.txt"
        scores.write_text("".join(f"/clientes/{cid}/score\n" for cid in ids))
        sample = httpx.get(
            f"{base}/clientes/{cpf_of(7)}/consultar", headers={"Authorization": f"Bearer {token}"}
        )
        assert sample.status_code == 200 and set(sample.json()) == {
            "ultima_consulta",
            "movimentacao_financeira",
            "ultima_compra",
        }, sample.text
        print(
            f"caudal customers bench: {args.api_procs} API process(es), {os.cpu_count()} CPU(s), "
            f"wrk -t1 on the same machine, {args.duration:g}s per run, "
            f"score cache: {'redis' if args.redis else 'in-process'}"
        )
        header = (
            f"{'request':<30}{'conc':>6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'errors':>8}{'requests':>10}"
        )
        print(header)
        print("-" * len(header))
        wrk(base, consultar, "random", 8, 2, token, lua)  # warm-up
        healthz = work / "healthz.txt"
        healthz.write_text("/healthz\n")
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            noop = wrk(base, healthz, "random", concurrency, args.duration, token, lua)
            print(row("GET /healthz (no-op)", concurrency, noop))
            run = wrk(base, consultar, "random", concurrency, args.duration, token, lua)
            print(row("GET /clientes/{cpf}/consultar", concurrency, run))
        # Score: cold = each id once (computed from A, B and C, audited, then cached); the run
        # stops before the ids wrap around. Warm = the ids the cold run cached.
        concurrency = 16
        cold = wrk(base, scores, "sequential", concurrency, min(args.duration, 3), token, lua)
        if cold["requests"] > len(ids):
            print(f"(cold run wrapped around {len(ids)} ids: raise --score-customers)")
        print(row("GET /clientes/{id}/score cold", concurrency, cold))
        touched = min(cold["requests"], len(ids))
        warm_paths = work / "warm.txt"
        warm_paths.write_text("".join(f"/clientes/{cid}/score\n" for cid in ids[:touched]))
        warm = wrk(base, warm_paths, "random", concurrency, args.duration, token, lua)
        print(row("GET /clientes/{id}/score warm", concurrency, warm))
        check = httpx.get(
            f"{base}/clientes/{ids[0]}/score", headers={"Authorization": f"Bearer {token}"}
        )
        print(
            f"score sample: {check.json()['score']} ({check.json()['faixa']}), "
            f"X-Cache: {check.headers['x-cache']}"
        )
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if redis_ctx is not None:
            redis_ctx.__exit__(None, None, None)
        embedded.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
