"""Ledger benchmark on embedded PostgreSQL (issue 5).

Prints, in one run on one database:
  1. postings/s of the posting engine across N accounts and on one hot account (batches applied
     by several concurrent workers, exactly as the bus consumer applies them);
  2. the same end to end: impacts accepted by the intake (pending + outbox), then posted by
     posting-consumer members of the real bus;
  3. seed 003's own engine (one CTE per transaction, FlowApi's SQL verbatim) on the same
     database, and the ratio;
  4. balance read latency (p50/p99), directly and over HTTP against `caudal api`;
  5. the consolidated report for 10,000 accounts (direct, JSON page, CSV over HTTP);
  6. the consolidated endpoint under load: req/s and lost requests.

    .venv/bin/python bench/ledger_postings.py            # defaults: ~1-2 minutes on 2 cores
    .venv/bin/python bench/ledger_postings.py --impacts 50000 --workers 2 --batch 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
from pydantic import SecretStr

from caudal.bus.adapters import build_bus
from caudal.bus.codec import partition_of
from caudal.ledger.capability import posting_consumer
from caudal.ledger.engine import Posting, PostingEngine
from caudal.ledger.intake import Intake
from caudal.ledger.model import Impact
from caudal.ledger.reads import Reads
from caudal.ledger.reconcile import Reconciler
from caudal.ledger.validation import Rules
from caudal.platform import scopes
from caudal.platform.bootstrap import Container, bootstrap
from caudal.platform.db.pool import Database
from caudal.platform.settings import AuthSettings, Settings

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"

# Seed 003 / llisboa/FlowApi TransactionRepository.AddTransactionAsync, verbatim but for the
# schema name and psycopg placeholders: the baseline engine, one CTE per transaction.
SEED_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS flow;
CREATE TABLE IF NOT EXISTS flow."event" (code serial4 PRIMARY KEY, active bool, description text,
    allowdebit bool, allowcredit bool, createdat timestamptz DEFAULT now());
INSERT INTO flow.event (code, active, description, allowdebit, allowcredit)
    VALUES (5, true, 'Transfer', true, true) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS flow."transaction" (id uuid DEFAULT gen_random_uuid() PRIMARY KEY,
    branch text, account text, amount numeric(15,2), debitcredit varchar(1), eventcode int4
    REFERENCES flow.event(code), description text, tracekey uuid, details json, dateref date,
    createdat timestamptz DEFAULT now(), CHECK (debitcredit IN ('D', 'C')));
CREATE TABLE IF NOT EXISTS flow.balance (id uuid DEFAULT gen_random_uuid() PRIMARY KEY,
    branch text, account text, dateref date, totaldebit numeric(15,2), totalcredit numeric(15,2),
    createdat timestamptz DEFAULT now(), tracekey uuid, acumulateddebit numeric(15,2),
    acumulatedcredit numeric(15,2));
CREATE UNIQUE INDEX IF NOT EXISTS balance_account ON flow.balance (branch, account, dateref);
"""
SEED_ENGINE = """
with ins_trans as (
    insert into flow.transaction (branch,account,amount,debitcredit,eventcode,description,
        tracekey, details, dateref)
        select %(Branch)s, %(Account)s, %(Amount)s, %(DebitCredit)s, %(EventCode)s,
        %(Description)s, %(TraceKey)s::uuid, %(Details)s::json, %(DateRef)s::date
    RETURNING *
)
, block_day as (
    select * from flow.balance where (branch,account,dateref) in
        (select balance.branch,balance.account,balance.dateref from
        ins_trans inner join flow.balance on
        ins_trans.branch = balance.branch and
        ins_trans.account = balance.account and
        ins_trans.dateref <= balance.dateref) for update
)
, acum as (
    select balance.branch, balance.account, balance.dateref,
        balance.acumulateddebit, balance.acumulatedcredit
    from flow.balance inner join ins_trans
        on balance.branch=ins_trans.branch and balance.account=ins_trans.account
        and balance.dateref<ins_trans.dateref
    order by balance.dateref desc limit 1
)
, total as (
    select branch, account,
        case when debitcredit='D' then amount else 0 end totaldebit,
        case when debitcredit='C' then amount else 0 end totalcredit
    from ins_trans
)
, ins_balance as (
    insert into flow.balance(branch,account,dateref,
        totaldebit,totalcredit,acumulateddebit,acumulatedcredit,tracekey)
    select ins_trans.branch, ins_trans.account,
        ins_trans.dateref,
        total.totaldebit,
        total.totalcredit,
        coalesce(acum.acumulateddebit,0)+total.totaldebit,
        coalesce(acum.acumulatedcredit,0)+total.totalcredit,
        tracekey
    from
        ins_trans
        left join acum on ins_trans.branch=acum.branch and ins_trans.account=acum.account
        join total on ins_trans.branch=total.branch and ins_trans.account=total.account
    on conflict (branch,account,dateref)
    do update set
        totaldebit = balance.totaldebit + coalesce(EXCLUDED.totaldebit,0),
        totalcredit = balance.totalcredit + coalesce(EXCLUDED.totalcredit,0),
        acumulateddebit = balance.acumulateddebit + coalesce(EXCLUDED.totaldebit,0),
        acumulatedcredit = balance.acumulatedcredit + coalesce(EXCLUDED.totalcredit,0)
    returning *
), update_next_balances as (
    update flow.balance
    set
        acumulateddebit = acumulateddebit + total.totaldebit,
        acumulatedcredit = acumulatedcredit + total.totalcredit
    from ins_trans,total
    where balance.dateref > ins_trans.dateref and
        balance.branch = ins_trans.branch and
        balance.account = ins_trans.account
)
select id::text, tracekey::text from ins_trans
"""


def today() -> date:
    return datetime.now(UTC).date()


def make_impacts(
    rng: random.Random, count: int, accounts: list[tuple[str, str]], backdated: float = 0.2
) -> list[Impact]:
    t = today()
    out = []
    for _ in range(count):
        branch, account = rng.choice(accounts)
        days = rng.randint(1, 7) if rng.random() < backdated else 0
        side = rng.choice("DC")
        out.append(
            Impact(
                tracekey=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                branch=branch,
                account=account,
                amount=Decimal(rng.randint(1, 1_000_000)) / 100,
                debitcredit="D" if side == "D" else "C",
                eventcode=5,
                dateref=t - timedelta(days=days),
                description="bench",
                details={"pdv": rng.randint(1, 50)},
            )
        )
    return out


def container_on(home: Path, owner_url: str) -> Container:
    """The application's container on an already migrated database, logging warnings only (the
    ledger rows of `hot_path.py` and `ledger_cpu.py`)."""
    settings = Settings(
        home=home,
        log_level="warning",
        database_url=SecretStr(owner_url),
        database_pool_max=8,
        auth=AuthSettings(secret=SecretStr(SECRET)),
    )
    return bootstrap(settings, bus=build_bus, migrate=False, configure_logging=False)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def post_direct(
    container: Container,
    impacts: list[Impact],
    workers: int,
    batch: int,
    *,
    by_partition: bool = False,
) -> float:
    """Engine throughput: `workers` concurrent members applying `batch`-sized batches. By
    default they take turns on one queue of batches over every account, so their batches share
    accounts and wait on each other's account locks; `by_partition` gives each worker the impacts
    of its own partitions instead (the bus's `partition_of` of `Impact.key`, the settings'
    partitions dealt round-robin), as `caudal worker` members of the posting group receive them."""
    database = Database(container.app_url, min_size=workers, max_size=workers)
    await database.open()
    engine = PostingEngine(database, container.bus)
    postings = [Posting(i, str(uuid.uuid4())) for i in impacts]
    if by_partition:
        partitions = container.settings.bus.partitions
        shares: list[list[Posting]] = [[] for _ in range(workers)]
        for p in postings:
            shares[partition_of(p.impact.key, partitions) % workers].append(p)
    else:
        shares = [postings]
    queues = [[s[i : i + batch] for i in range(0, len(s), batch)][::-1] for s in shares]

    async def worker(queue: list[list[Posting]]) -> None:
        while queue:
            await engine.post(queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(worker(queues[n % len(queues)]) for n in range(workers)))
    elapsed = time.perf_counter() - started
    await database.close()
    return len(impacts) / elapsed


async def count_decided(database: Database) -> int:
    async with database.connection() as conn:
        cur = await conn.execute(
            "SELECT (SELECT count(*) FROM ledger.transaction) + "
            "(SELECT count(*) FROM ledger.rejection)"
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def through_the_bus(
    container: Container, impacts: list[Impact], workers: int
) -> tuple[float, float]:
    """Intake (pending + outbox) then the posting consumers on the real bus."""
    base = await count_decided(container.database)
    intake_rate = await accept_all(container, impacts)
    return intake_rate, await post_accepted(container, base + len(impacts), workers)


async def accept_all(container: Container, impacts: list[Impact]) -> float:
    """The intake (pending + outbox) of `impacts`, 1,000 a call: impacts/s."""
    intake = Intake(container.database, container.bus, container.settings.ledger.topic)
    rules = Rules(today=today(), backdate_days=7)
    started = time.perf_counter()
    for i in range(0, len(impacts), 1000):
        raws = [dict(x.to_payload()) for x in impacts[i : i + 1000]]
        results = await intake.accept(raws, rules, "bench")
        assert all(r.status == "pending" for r in results), results[0]
    return len(impacts) / (time.perf_counter() - started)


async def post_accepted(container: Container, decided: int, workers: int) -> float:
    """`workers` posting consumers on the real bus until `decided` impacts are: postings/s
    of those decided meanwhile."""
    base = await count_decided(container.database)
    stop = asyncio.Event()
    consumer = posting_consumer(container)
    started = time.perf_counter()
    tasks = [asyncio.create_task(container.bus.consume(consumer, stop)) for _ in range(workers)]
    while await count_decided(container.database) < decided:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    rate = (decided - base) / (time.perf_counter() - started)
    stop.set()
    await asyncio.gather(*tasks)
    return rate


def seed_engine(owner_url: str, impacts: list[Impact], workers: int, seconds: float) -> float:
    """Seed 003's engine: one statement per transaction, autocommit, `workers` threads."""
    import threading

    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(SEED_SCHEMA)
    done = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    chunks = [impacts[i::workers] for i in range(workers)]

    def run(chunk: list[Impact]) -> None:
        with psycopg.connect(owner_url, autocommit=True) as conn:
            for i in chunk:
                if time.perf_counter() > deadline:
                    return
                conn.execute(
                    SEED_ENGINE,
                    {
                        "Branch": i.branch,
                        "Account": i.account,
                        "Amount": i.amount,
                        "DebitCredit": i.debitcredit,
                        "EventCode": i.eventcode,
                        "Description": i.description,
                        "TraceKey": i.tracekey,
                        "Details": '{"pdv": 1}',
                        "DateRef": i.dateref,
                    },
                )
                with lock:
                    done[0] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RawClient:
    """A minimal HTTP/1.1 keep-alive client: the load generator must cost less than the server."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        request = (
            f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {self.token}\r\n\r\n"
        )
        self.writer.write(request.encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        if length:
            await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def latencies(port: int, token: str, paths: list[str]) -> list[float]:
    client = RawClient(port, token)
    out = []
    for path in paths:
        started = time.perf_counter()
        status = await client.get(path)
        out.append((time.perf_counter() - started) * 1000)
        assert status == 200, (status, path)
    await client.close()
    return out


async def load(
    port: int, token: str, path: str, concurrency: int, seconds: float
) -> tuple[int, int, float]:
    """(ok, lost, seconds): lost = errors, timeouts and non-200 answers."""
    ok = lost = 0
    deadline = time.perf_counter() + seconds

    async def user() -> None:
        nonlocal ok, lost
        client = RawClient(port, token)
        while time.perf_counter() < deadline:
            try:
                status = await asyncio.wait_for(client.get(path), 5)
            except (OSError, TimeoutError, asyncio.IncompleteReadError):
                lost += 1
                await client.close()
                client = RawClient(port, token)
                continue
            if status == 200:
                ok += 1
            else:
                lost += 1
        await client.close()

    started = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    return ok, lost, time.perf_counter() - started


def start_api(home: Path, owner_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUDAL_")}
    env.update(
        CAUDAL_HOME=str(home),
        CAUDAL_DATABASE_URL=owner_url,
        CAUDAL_AUTH__SECRET=SECRET,
        CAUDAL_LOG_LEVEL="warning",
        CAUDAL_HTTP__WORKERS=str(workers),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "caudal", "api", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("caudal api did not become ready")


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="caudal-bench-"))
    settings = Settings(
        home=home,
        env="test",
        log_level="warning",
        database_pool_max=max(8, args.workers * 2 + 4),
        auth=AuthSettings(secret=SecretStr(SECRET)),
    )
    print(f"embedded PostgreSQL in {home} ...", flush=True)
    container = bootstrap(settings, bus=build_bus)
    await container.database.open()
    cpus = os.cpu_count()
    print(
        f"cpus={cpus} impacts={args.impacts} accounts={args.accounts} workers={args.workers} "
        f"batch={args.batch}\n"
    )
    try:
        accounts = [("0001", f"{n:09d}") for n in range(args.accounts)]
        spread = make_impacts(rng, args.impacts, accounts)
        hot = make_impacts(rng, args.impacts, [("0001", "HOT")])

        rate_spread = await post_direct(container, spread, args.workers, args.batch)
        print(f"engine, {args.accounts} accounts : {rate_spread:10,.0f} postings/s (target 10,000)")
        rate_hot = await post_direct(container, hot, args.workers, args.batch)
        print(f"engine, 1 hot account     : {rate_hot:10,.0f} postings/s (target 5,000)")

        bus_impacts = make_impacts(rng, args.bus_impacts, accounts)
        intake_rate, bus_rate = await through_the_bus(container, bus_impacts, args.workers)
        print(f"intake (pending + outbox) : {intake_rate:10,.0f} impacts/s")
        print(f"bus -> posting consumers  : {bus_rate:10,.0f} postings/s end to end")
        bus_hot = make_impacts(rng, args.bus_impacts, [("0002", "HOT")])
        _, bus_hot_rate = await through_the_bus(container, bus_hot, args.workers)
        print(f"bus, 1 hot account        : {bus_hot_rate:10,.0f} postings/s end to end")

        baseline_impacts = make_impacts(rng, args.impacts, [("0009", a) for _, a in accounts])
        baseline = seed_engine(
            container.owner_url, baseline_impacts, args.workers, args.baseline_seconds
        )
        print(f"seed 003 CTE engine       : {baseline:10,.0f} postings/s ({args.workers} conns)")
        print(f"ratio (engine / seed)     : {rate_spread / baseline:10.1f}x (goal 20x)")

        differences = await Reconciler(container.database).differences()
        print(f"reconciliation            : {len(differences)} differences\n")

        # 10,000 accounts for the consolidated report (one impact each)
        many = [("0100", f"{n:09d}") for n in range(args.report_accounts)]
        report_impacts = [
            Impact(str(uuid.uuid4()), b, a, Decimal("10.00"), "C", 5, today()) for b, a in many
        ]
        await post_direct(container, report_impacts, args.workers, args.batch)
        reads = Reads(container.database)
        async with container.database.connection() as conn:
            row = await (await conn.execute("SELECT count(*) FROM ledger.account")).fetchone()
        total_accounts = int(row[0]) if row else 0
        started = time.perf_counter()
        rows = 0
        async for chunk in reads.consolidated_all(today()):
            rows += len(chunk)
        print(
            f"consolidated, {rows:,} accounts (direct, all pages): "
            f"{(time.perf_counter() - started) * 1000:,.0f} ms (target < 1 s)"
        )
        assert rows == total_accounts

        direct = []
        for _ in range(args.reads):
            b, a = rng.choice(accounts)
            started = time.perf_counter()
            await reads.balance(b, a, today())
            direct.append((time.perf_counter() - started) * 1000)
        print(
            f"balance read, direct      : p50 {pct(direct, 0.5):.2f} ms  "
            f"p99 {pct(direct, 0.99):.2f} ms (target p99 < 5 ms)"
        )
    finally:
        await container.database.close()

    port = free_port()
    api = start_api(home, container.owner_url, port, args.api_workers)
    try:
        token = container.tokens.mint("bench", [scopes.LEDGER_READ], 3600)
        paths = [
            f"/v1/ledger/accounts/{b}/{a}/balance?date={today()}"
            for b, a in (rng.choice(accounts) for _ in range(args.reads))
        ]
        await latencies(port, token, paths[:200])  # warm up
        http = await latencies(port, token, paths)
        print(
            f"balance read, HTTP        : p50 {pct(http, 0.5):.2f} ms  p99 {pct(http, 0.99):.2f} "
            f"ms (sequential, {args.reads} requests)"
        )
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ) as client:
            started = time.perf_counter()
            csv_resp = await client.get(f"/v1/ledger/consolidated?date={today()}&format=csv")
            csv_ms = (time.perf_counter() - started) * 1000
            lines = csv_resp.text.count("\n") - 1
            print(f"consolidated CSV over HTTP: {csv_ms:,.0f} ms for {lines:,} accounts")
            started = time.perf_counter()
            page = await client.get(f"/v1/ledger/consolidated?date={today()}&limit=1000")
            assert page.status_code == 200
            print(
                f"consolidated JSON page    : {(time.perf_counter() - started) * 1000:,.0f} ms "
                "(1,000 accounts)"
            )
        path = f"/v1/ledger/consolidated?date={today()}&limit=100"
        await load(port, token, path, 8, 1.0)  # warm up
        ok, lost, secs = await load(port, token, path, args.concurrency, args.load_seconds)
        print(
            f"consolidated under load   : {ok / secs:10,.0f} req/s, {lost} lost of {ok + lost:,} "
            f"(concurrency {args.concurrency}, {args.api_workers} API process(es), "
            f"{args.load_seconds:.0f}s; target >= 2,000 req/s, 0 lost)"
        )
        samples = await latencies(port, token, [path] * 500)
        print(
            f"consolidated page latency : p50 {statistics.median(samples):.2f} ms  "
            f"p99 {pct(samples, 0.99):.2f} ms (idle)"
        )
    finally:
        api.terminate()
        api.wait(30)
        container.close_embedded()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impacts", type=int, default=50_000)
    parser.add_argument("--bus-impacts", type=int, default=20_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--report-accounts", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--load-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
