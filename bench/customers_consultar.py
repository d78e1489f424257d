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
import contextlib
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _support as bench
import httpx
from _support import SECRET


def cpf_of(n: int) -> str:
    from caudal.customers.cpf import with_check_digits

    return with_check_digits(f"{100_000_000 + n:09d}")


def paths_file(work: Path, customers: int) -> Path:
    """The `/consultar` path of every loaded CPF, one a line, for wrk's random pick."""
    paths = work / "consultar.txt"
    cpfs = [cpf_of(n) for n in range(customers)]
    paths.write_text("".join(f"/clientes/{cpf}/consultar\n" for cpf in cpfs))
    return paths


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
    return bench.wrk(base, concurrency, seconds, lua, token=token, paths_file=paths_file, mode=mode)


def row(label: str, concurrency: int, run: dict[str, Any]) -> str:
    return (
        f"{label:<30}{concurrency:>6}{run['rps']:>10.0f}{run['p50_us'] / 1000:>9.2f}"
        f"{run['p99_us'] / 1000:>9.2f}{run['non2xx'] + run['errors']:>8}{run['requests']:>10}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000, help="CPFs loaded into Base C.")
    parser.add_argument(
        "--score-customers", type=int, default=2000, help="Customers for the score."
    )
    parser.add_argument("--api-procs", type=int, default=1, help="API processes (SO_REUSEPORT).")
    parser.add_argument("--concurrency", default="1,16,64", help="Comma-separated connections.")
    parser.add_argument("--duration", type=int, default=6, help="Seconds per wrk run.")
    parser.add_argument("--redis", action="store_true", help="Score cache in a local redis-server.")
    args = parser.parse_args()
    bench.require_wrk()

    with contextlib.ExitStack() as stack:  # closed in reverse: API processes, redis, database
        work, home, owner_url = stack.enter_context(bench.embedded_database())
        extra: dict[str, str] = {}
        if args.redis:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            from tests.integration.customers.redis_server import redis_server

            extra["CAUDAL_REDIS_URL"] = stack.enter_context(redis_server())
        procs = stack.enter_context(bench.Processes())
        started = time.perf_counter()
        projection_rate, create_rate, ids = asyncio.run(
            load(home, owner_url, args.customers, args.score_customers)
        )
        print(
            f"loaded {args.customers} CPFs into Base C ({args.customers * 3} events through the "
            f"sink, {projection_rate:.0f} events/s) and {args.score_customers} customers into "
            f"Bases A+B ({create_rate:.0f}/s) in {time.perf_counter() - started:.0f}s"
        )
        token = bench.mint(["customers:activity", "customers:score"])
        env = bench.env_for(home, owner_url, **extra)
        base = procs.api("serve", bench.free_port(), env, args.api_procs)
        lua = bench.write_lua(work)
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


if __name__ == "__main__":
    main()
