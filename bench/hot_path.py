"""The hot-path table of issue 14 in one command: each row beside its baseline measured in the
same run (a no-op FastAPI app on the same server stack, or seed 003's engine), alternating
baseline and subject `--runs` times and printing medians, with the machine's load.

    .venv/bin/python bench/hot_path.py                  # ~10 minutes on 2 cores
    .venv/bin/python bench/hot_path.py --runs 1 --duration 3 --customers 10000   # a quick look

Rows:
  1. `caudal up` (shipped settings: on 2+ CPUs the API in one process, the workers in a child;
     its CPU is the whole process tree's), one backend event per request, c=16;
  2. `caudal up`, frontend x20 events per request, c=64 (and the sinks' lag when the load ends);
  3. 2 API processes (no worker), frontend x1, c=64;
  4. the same, frontend x20;
  5. one `caudal worker` draining what rows 3-4 left on the bus into the lake and realtime;
  6. `/clientes/{cpf}/consultar` over `--customers` CPFs, 2 API processes, c=16;
  7. the ledger engine over 1,000 accounts (its workers fed by partition, as the bus feeds them;
     then both on every account), and through the bus, beside seed 003's engine.
Everything runs on this machine (embedded PostgreSQL, `wrk -t1`): compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _support as bench
from consultar_cpu import cpu_seconds, postmaster_of, server_cpu
from ingest_http import frontend_body

GOALS = {
    "up-backend": "≥ 0.40× no-op, p99 < 50 ms",
    "up-frontend": "≥ 30,000 events/s, sinks keep up",
    "api-x1": "≥ 60 % of no-op, p99 < 50 ms",
    "api-x20": "≥ 40,000 events/s",
    "drain": "≥ 15,000 events/s into both",
    "consultar": "≥ 4,000 req/s, p99 < 5 ms",
    "ledger": "≥ 12,000 / ≥ 8,000; ≥ 6× seed",
}
BACKEND_BODY = {
    "eventType": "selfie-uploaded",
    "eventDateTime": "2020-10-12T21:38:43-0300",
    "version": "1.0",
    "data": {"selfield": "cc9aa584d6be"},
}


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []

    def add(self, what: str, baseline: str, caudal: str, ratio: str, goal: str) -> None:
        self.rows.append((what, baseline, caudal, ratio, goal))
        print(f"  -> {what}: {caudal} vs {baseline} ({ratio})", flush=True)

    def print(self) -> None:
        print("\n| what | baseline (same run) | caudal | ratio | goal |")
        print("|---|---|---|---|---|")
        for row in self.rows:
            print("| " + " | ".join(row) + " |")


def med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


PROFILES = bench.Profiles(None)


def alternate(
    runs: int,
    baseline: Callable[[], dict[str, Any]],
    subject: Callable[[], dict[str, Any]],
    profile: tuple[str, list[int], float, int] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """baseline, subject; then subject, baseline; ... so drift in load hits both alike. With
    `profile` (name, pids, seconds, events per request), the first subject run is profiled."""
    base: list[dict[str, Any]] = []
    subj: list[dict[str, Any]] = []

    def measured() -> dict[str, Any]:
        if profile is None or subj:
            return subject()
        name, pids, seconds, per_request = profile
        PROFILES.start(name, pids, seconds)
        result = subject()
        PROFILES.finish(name, (result["requests"] - result["non2xx"]) * per_request)
        return result

    for i in range(runs):
        order = [(baseline, base), (measured, subj)]
        for run, into in order if i % 2 == 0 else reversed(order):
            into.append(run())
    return base, subj


def http_row(
    table: Table,
    what: str,
    goal: str,
    base: list[dict[str, Any]],
    subj: list[dict[str, Any]],
    events: int = 1,
) -> None:
    errors = sum(r["non2xx"] + r["errors"] for r in subj)
    # A baseline that answers errors is no ceiling: the table says so.
    base_errors = sum(r["non2xx"] + r["errors"] for r in base)
    b_rps, s_rps = med(base, "rps"), med(subj, "rps")
    rate = f"{s_rps:,.0f} req/s" + (f" = {s_rps * events:,.0f} events/s" if events > 1 else "")
    table.add(
        what,
        f"{b_rps:,.0f} req/s, p99 {med(base, 'p99_us') / 1000:.1f} ms"
        + (f", {base_errors} errors" if base_errors else ""),
        f"{rate}, p99 {med(subj, 'p99_us') / 1000:.1f} ms"
        + (f", {errors} errors" if errors else ""),
        f"{s_rps / b_rps:.2f}×",
        goal,
    )


# ---- database probes ---------------------------------------------------------------------


def query(owner_url: str, sql: str) -> Any:
    import psycopg

    with psycopg.connect(owner_url, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return row[0] if row else None


def lake_flush(owner_url: str) -> None:
    """Wake lingering lake deliveries, as `caudal lake flush` does."""
    import psycopg

    from caudal.bus.postgres import NOTIFY_CHANNEL
    from caudal.events.sinks.lake import FLUSH_TOPIC

    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, FLUSH_TOPIC))


def settle(owner_url: str) -> None:
    """Write out what the previous section left dirty (a CHECKPOINT) before the next one
    measures: otherwise the server's own checkpoint of a section's writes lands in the next
    section's wrk run and shows in its p99 (seen: the 2-API-process row's p99 at ~90 ms after
    the `caudal up` rows, ~30 ms when run alone)."""
    import psycopg

    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def sink_lag(owner_url: str) -> dict[str, int]:
    from caudal.bus.postgres import PostgresBus
    from caudal.platform.db.pool import Database
    from caudal.platform.settings import BusSettings

    async def status() -> dict[str, int]:
        database = Database(owner_url, min_size=1, max_size=1)
        await database.open()
        try:
            groups = await PostgresBus(database, BusSettings()).status()
        finally:
            await database.close()
        return {g.group: g.lag for g in groups}

    return asyncio.run(status())


def lake_rows(home: Path) -> int:
    import pyarrow.parquet as pq

    return sum(
        pq.ParquetFile(p).metadata.num_rows for p in (home / "lake").glob("*/*/dt=*/*.parquet")
    )


def realtime_rows(owner_url: str) -> int:
    return int(query(owner_url, "SELECT coalesce(sum(count), 0) FROM events.minute_counts") or 0)


def bus_events(owner_url: str) -> int:
    return int(query(owner_url, "SELECT count(*) FROM bus.messages WHERE topic = 'events'") or 0)


# ---- sections ----------------------------------------------------------------------------


def caudal_up_rows(
    args: argparse.Namespace, work: Path, home: Path, owner_url: str, t: Table
) -> None:
    lua = bench.write_lua(work)
    token = bench.mint(["events:write", "monitor:read"])
    backend, frontend = work / "backend.json", work / "frontend20.json"
    backend.write_bytes(json.dumps(BACKEND_BODY).encode())
    frontend.write_bytes(frontend_body(20))
    with bench.Processes() as procs:
        noop_port, up_port = bench.free_port(), bench.free_port()
        noop = procs.api("noop", noop_port, bench.env_for(home, owner_url))
        # The lake's shipped linger unless --up-lake-flush says otherwise: a shorter one writes
        # more, smaller files (a file per bus partition per delivery), which is CPU the
        # process spends on the lake instead of requests (docs/lake.md).
        settings = {}
        if args.up_lake_flush is not None:
            settings["CAUDAL_LAKE__FLUSH_MAX_SECONDS"] = str(args.up_lake_flush)
        env = bench.env_for(home, owner_url, **settings)
        up_proc = procs.start([sys.executable, "-m", "caudal", "up", "--port", str(up_port)], env)
        up = f"http://127.0.0.1:{up_port}"
        bench.wait_ready(up)
        bench.wrk(
            f"{up}/v1/events/backend", 8, 2, lua, method="POST", token=token, body_file=backend
        )

        def run(base: str, path: str, conc: int, body: Path) -> Callable[[], dict[str, Any]]:
            return lambda: bench.wrk(
                f"{base}{path}",
                conc,
                args.duration,
                lua,
                method="POST",
                token=token,
                body_file=body,
            )

        base, subj = alternate(
            args.runs,
            run(noop, "/v1/events/backend", 16, backend),
            run(up, "/v1/events/backend", 16, backend),
            ("up-backend", [up_proc.pid], args.duration, 1),
        )
        http_row(t, "`caudal up`, backend ×1, c=16", GOALS["up-backend"], base, subj)
        # End to end: the up process's and PostgreSQL's CPU from a caught-up bus, through the
        # x20 runs, to caught up again, per event; and the process's CPU per wall second while
        # it ingests (its Python shares one interpreter lock: ~1 core whatever the machine has).
        postmaster = postmaster_of(home) if args.database_url is None else None
        catch_up(owner_url)
        up_cpu0, pg_cpu0, loaded = tree_cpu(up_proc.pid), server_cpu_of(postmaster), []
        load = run(up, "/v1/events/frontend", 64, frontend)
        load_seconds: list[float] = []

        def ingest() -> dict[str, Any]:
            cpu0, wall0 = tree_cpu(up_proc.pid), time.perf_counter()
            result = load()
            load_seconds.append(time.perf_counter() - wall0)
            loaded.append((tree_cpu(up_proc.pid) - cpu0) / load_seconds[-1])
            return result

        base, subj = alternate(
            args.runs,
            run(noop, "/v1/events/frontend", 64, frontend),
            ingest,
            ("up-frontend20", [up_proc.pid], args.duration, 20),
        )
        lag = sink_lag(owner_url)
        behind = max(lag.get("lake", 0), lag.get("realtime", 0))
        http_row(t, "`caudal up`, frontend ×20, c=64", GOALS["up-frontend"], base, subj, 20)
        up_cpu1, pg_cpu1 = tree_cpu(up_proc.pid), server_cpu_of(postmaster)
        caught_up = catch_up(owner_url)
        up_cpu2, pg_cpu2 = tree_cpu(up_proc.pid), server_cpu_of(postmaster)
        events = 20 * sum(r["requests"] - r["non2xx"] - r["errors"] for r in subj)
        sunk = (events - behind) / sum(load_seconds)  # the slower of lake and realtime
        t.add(
            "`caudal up`: sinks' lag after the ×20 runs",
            "",
            # Both lags: the lake's moves by whole deliveries (up to 10,000 events, committed
            # once their files are written), realtime's by smaller batches.
            f"{behind:,} events behind (lake {lag.get('lake', 0):,}, realtime "
            f"{lag.get('realtime', 0):,}); lake (flushed) + realtime caught up {caught_up:.0f} s "
            f"after the load; {sunk:,.0f} events/s sunk during it",
            "",
            "keep up (lag ~0)",
        )
        up_us = (up_cpu2 - up_cpu0) / events * 1e6
        pg_us = (pg_cpu2 - pg_cpu0) / events * 1e6
        sink_us = (up_cpu2 - up_cpu1 + pg_cpu2 - pg_cpu1) / behind * 1e6 if behind else 0.0
        busy = max(loaded)
        # The lower of: the process's cores (one interpreter lock) and the machine's two cores.
        bound = busy / up_us * 1e6
        if not math.isnan(pg_us):
            bound = min(bound, 2e6 / (up_us + pg_us))
        t.add(
            "`caudal up` ×20: CPU per event, ingested and sunk",
            "",
            f"process {up_us:.0f} µs (at {busy:.2f} cores while ingesting) + PostgreSQL "
            f"{pg_us:.0f} µs; the catch-up alone {sink_us:.0f} µs an event",
            f"{bound:,.0f} events/s",
            "the rate the sinks can keep up with on this machine",
        )


def tree_cpu(pid: int) -> float:
    """CPU seconds of `caudal up`: the process and its worker processes (CAUDAL_UP__WORKER_
    PROCESSES), the live ones and those it reaped."""
    import psutil

    total = cpu_seconds(pid, children=True)
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(OSError):  # exited between the listing and the read
            total += cpu_seconds(child.pid)
    return total


def server_cpu_of(postmaster: int | None) -> float:
    return server_cpu(postmaster) if postmaster is not None else float("nan")


def catch_up(owner_url: str, limit: float = 300) -> float:
    """Seconds until the lake (flushed) and realtime groups have no lag."""
    started = time.perf_counter()
    lag = sink_lag(owner_url)
    while max(lag.get("lake", 0), lag.get("realtime", 0)) and time.perf_counter() - started < limit:
        lake_flush(owner_url)  # what `caudal lake flush` does: the linger ends now
        time.sleep(1)
        lag = sink_lag(owner_url)
    return time.perf_counter() - started


def api_rows(args: argparse.Namespace, work: Path, home: Path, owner_url: str, t: Table) -> None:
    lua = bench.write_lua(work)
    token = bench.mint(["events:write"])
    bodies = {n: work / f"frontend{n}.json" for n in (1, 20)}
    for n, path in bodies.items():
        path.write_bytes(frontend_body(n))
    with bench.Processes() as procs:
        env = bench.env_for(home, owner_url)
        noop = procs.api("noop", bench.free_port(), env, args.api_procs)
        api = procs.api("serve", bench.free_port(), env, args.api_procs)
        api_pids = [p.pid for p in procs.procs[-args.api_procs :]]
        bench.wrk(
            f"{api}/v1/events/frontend", 8, 2, lua, method="POST", token=token, body_file=bodies[1]
        )
        for n in (1, 20):

            def run(base: str, n: int = n) -> Callable[[], dict[str, Any]]:
                return lambda: bench.wrk(
                    f"{base}/v1/events/frontend",
                    64,
                    args.duration,
                    lua,
                    method="POST",
                    token=token,
                    body_file=bodies[n],
                )

            profile = (f"api-frontend{n}", api_pids, args.duration, n)
            base, subj = alternate(args.runs, run(noop), run(api), profile)
            what = f"{args.api_procs} API procs, frontend ×{n}, c=64"
            http_row(t, what, GOALS["api-x1" if n == 1 else "api-x20"], base, subj, n)


def seed_bus(owner_url: str, count: int, devices: int = 64) -> None:
    """Publish `count` frontend events (the shape of `frontend_body`'s) straight to the bus, for
    a drain run alone (`--only drain`): the same canonical events the intake makes."""
    from caudal.bus.postgres import PostgresBus
    from caudal.events.intake import to_message
    from caudal.platform.db.pool import Database
    from caudal.platform.settings import BusSettings

    async def publish() -> None:
        database = Database(owner_url, min_size=1, max_size=2)
        await database.open()
        try:
            bus = PostgresBus(database, BusSettings())
            for start in range(0, count, 2000):
                batch = [
                    bench.frontend_event(i, devices) for i in range(start, min(start + 2000, count))
                ]
                await bus.publish([to_message(e) for e in batch])
        finally:
            await database.close()

    asyncio.run(publish())


# Per partition of `events`, its last message in delivery order ((xid, seq): a transaction that
# committed late can hold a lower seq than one delivered before it).
DRAIN_HEADS = """
SELECT array_agg(partition), array_agg(xid), array_agg(seq)
FROM (SELECT DISTINCT ON (partition) partition, xid, seq FROM bus.messages
      WHERE topic = 'events' ORDER BY partition, xid DESC, seq DESC) AS h
"""
# The drain's groups that have committed every partition through its head: a lake delivery
# commits once its files are written, a realtime one once its rows are.
DRAIN_DONE = """
SELECT o.group_name
FROM bus.offsets AS o
JOIN unnest(%s::int[], %s::xid8[], %s::bigint[]) AS h(partition, xid, seq) USING (partition)
WHERE o.group_name IN ('lake', 'realtime')
GROUP BY o.group_name
HAVING bool_and((o.xid, o.seq) >= (h.xid, h.seq))
"""


def drain_row(args: argparse.Namespace, home: Path, owner_url: str, t: Table) -> None:
    """Time until both sinks have committed the bus's last message of every partition, polled
    on their offsets. Not on the sinks' output: counting the lake's rows reads every Parquet
    footer (0.57 s of CPU at 3,200 files, bench/profiles/README.md), so a poll every 0.5 s took
    a growing share of the 2 cores the worker runs on as the backlog grew."""
    import psycopg

    # Run alone, or after the `caudal up` rows only (their sinks caught up): nothing to drain.
    lag = sink_lag(owner_url)
    if bus_events(owner_url) == 0 or (lag and not max(lag.get("lake", 0), lag.get("realtime", 0))):
        seed_bus(owner_url, args.drain_events)
    total = bus_events(owner_url)
    lake0, rt0 = lake_rows(home), realtime_rows(owner_url)
    env = bench.env_for(home, owner_url, CAUDAL_LAKE__FLUSH_MAX_SECONDS="1")
    done: dict[str, float] = {}
    with psycopg.connect(owner_url, autocommit=True) as conn, bench.Processes() as procs:
        heads = conn.execute(DRAIN_HEADS).fetchone()
        assert heads is not None
        started = time.perf_counter()
        worker = procs.start([sys.executable, "-m", "caudal", "worker"], env)
        PROFILES.start("drain", [worker.pid], 900)
        while len(done) < 2 and time.perf_counter() - started < 900:
            time.sleep(0.05)
            for (group,) in conn.execute(DRAIN_DONE, heads).fetchall():
                done.setdefault(group, time.perf_counter() - started)
        PROFILES.finish("drain", total - min(lake0, rt0))
    written = {"lake": lake_rows(home) - lake0, "realtime": realtime_rows(owner_url) - rt0}
    rates = {k: written[k] / v for k, v in done.items()}
    missing = {k: total - (lake0 if k == "lake" else rt0) - written[k] for k in done}
    t.add(
        f"1 worker draining {total - min(lake0, rt0):,} events",
        "",
        ", ".join(f"{k} {v:,.0f} events/s" for k, v in sorted(rates.items())) or "did not finish",
        "",
        GOALS["drain"] + "".join(f"; {k} MISSING {n:,}" for k, n in missing.items() if n),
    )


def consultar_row(
    args: argparse.Namespace, work: Path, home: Path, owner_url: str, t: Table
) -> None:
    import customers_consultar

    started = time.perf_counter()
    asyncio.run(customers_consultar.load(home, owner_url, args.customers, 0))
    print(f"  loaded {args.customers:,} CPFs into Base C in {time.perf_counter() - started:.0f} s")
    lua = bench.write_lua(work)
    token = bench.mint(["customers:activity"])
    paths = customers_consultar.paths_file(work, args.customers)
    with bench.Processes() as procs:
        env = bench.env_for(home, owner_url)
        noop = procs.api("noop", bench.free_port(), env, args.api_procs)
        api = procs.api("serve", bench.free_port(), env, args.api_procs)
        api_pids = [p.pid for p in procs.procs[-args.api_procs :]]
        bench.wrk(api, 8, 2, lua, token=token, paths_file=paths)

        def run(base: str) -> Callable[[], dict[str, Any]]:
            return lambda: bench.wrk(base, 16, args.duration, lua, token=token, paths_file=paths)

        profile = ("consultar", api_pids, args.duration, 1)
        base, subj = alternate(args.runs, run(noop), run(api), profile)
        what = (
            f"`/clientes/{{cpf}}/consultar`, {args.customers:,} CPFs, {args.api_procs} procs, c=16"
        )
        http_row(t, what, GOALS["consultar"], base, subj)


def ledger_row(args: argparse.Namespace, home: Path, owner_url: str, t: Table) -> None:
    """The engine's two workers each post the accounts of their own bus partitions, as the
    members of `caudal worker --group ledger-posting` receive them (the bus gives one account's
    impacts to one member); a second engine row feeds both workers every account, which only
    a lease taken over produces, so their batches wait on each other's account locks. The
    process's collector is tuned as `caudal worker` tunes its own (`--ledger-default-gc`: not),
    for the seed engine's threads as for ours."""
    import ledger_postings as lp
    import structlog

    from caudal.platform import collector

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    rng = random.Random(3)
    accounts = [("0001", f"{n:09d}") for n in range(1000)]
    if not args.ledger_default_gc:
        collector.tune_for_streaming()

    def engine_run(by_partition: bool) -> Callable[[], Any]:
        return lambda: lp.post_direct(
            container, lp.make_impacts(rng, 30_000, accounts), 2, 1000, by_partition=by_partition
        )

    container = lp.container_on(home, owner_url)

    async def measure() -> tuple[list[float], list[float], list[float], list[float]]:
        await container.database.open()
        seed: list[float] = []
        engine: list[float] = []
        shared: list[float] = []
        bus: list[float] = []
        try:
            for i in range(args.runs):
                runs: list[tuple[list[float], Callable[[], Any]]] = [
                    (
                        seed,
                        lambda: asyncio.to_thread(
                            lp.seed_engine,
                            owner_url,
                            lp.make_impacts(rng, 50_000, [("0009", a) for _, a in accounts]),
                            2,
                            5.0,
                        ),
                    ),
                    (engine, engine_run(by_partition=True)),
                    (
                        bus,
                        lambda: lp.through_the_bus(
                            container, lp.make_impacts(rng, 10_000, accounts), 2
                        ),
                    ),
                    (shared, engine_run(by_partition=False)),
                ]
                for into, run in runs if i % 2 == 0 else reversed(runs):
                    name = {id(engine): "ledger-engine", id(bus): "ledger-bus"}.get(id(into))
                    if i == 0 and name:  # the first engine and bus runs are profiled
                        PROFILES.start(name, [os.getpid()], 300)
                    value = await run()
                    if i == 0 and name:
                        PROFILES.finish(name, 30_000 if name == "ledger-engine" else 10_000)
                    into.append(value[1] if isinstance(value, tuple) else value)
        finally:
            await container.database.close()
        return seed, engine, shared, bus

    seed, engine, shared, bus = asyncio.run(measure())
    s, e, b = statistics.median(seed), statistics.median(engine), statistics.median(bus)
    gc = "default collector" if args.ledger_default_gc else "worker's collector"
    t.add(
        f"ledger engine, 1,000 accounts by partition / via the bus ({gc})",
        f"seed 003 engine {s:,.0f}/s",
        f"{e:,.0f} / {b:,.0f} postings/s",
        f"{e / s:.1f}× / {b / s:.1f}×",
        GOALS["ledger"],
    )
    x = statistics.median(shared)
    t.add(
        "ledger engine, both workers on every account (no partitions)",
        f"seed 003 engine {s:,.0f}/s",
        f"{x:,.0f} postings/s",
        f"{x / s:.1f}×",
        "",
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="Alternating runs per row (medians).")
    parser.add_argument("--duration", type=float, default=5, help="Seconds per wrk run.")
    parser.add_argument("--api-procs", type=int, default=2)
    parser.add_argument("--customers", type=int, default=100_000, help="CPFs in Base C.")
    parser.add_argument(
        "--up-lake-flush",
        type=float,
        help="CAUDAL_LAKE__FLUSH_MAX_SECONDS for the `caudal up` rows (default: the shipped 60).",
    )
    parser.add_argument(
        "--drain-events",
        type=int,
        default=100_000,
        help="Events published straight to the bus when the drain row runs alone.",
    )
    parser.add_argument(
        "--only",
        default="up,api,drain,consultar,ledger",
        help="Comma-separated sections: up, api, drain, consultar, ledger.",
    )
    parser.add_argument(
        "--database-url",
        help="An empty database to use instead of an embedded one (e.g. with pg_stat_statements).",
    )
    parser.add_argument(
        "--ledger-default-gc",
        action="store_true",
        help="The ledger rows under Python's default collector (not the one `caudal worker` "
        "tunes, platform/collector.py).",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="Write py-spy (and, with --database-url, pg_stat_statements) summaries here.",
    )
    args = parser.parse_args()
    bench.require_wrk()
    sections = set(args.only.split(","))
    table = Table()
    print(
        f"caudal hot path: {bench.load_average()}, {args.runs} alternating runs, medians",
        flush=True,
    )
    global PROFILES
    with bench.embedded_database(args.database_url) as (work, home, owner_url):
        PROFILES = bench.Profiles(args.profile, owner_url if args.database_url else "")
        if "up" in sections:
            caudal_up_rows(args, work, home, owner_url, table)
        if "api" in sections:
            settle(owner_url)
            api_rows(args, work, home, owner_url, table)
        if "drain" in sections:
            settle(owner_url)
            drain_row(args, home, owner_url, table)
        if "consultar" in sections:
            settle(owner_url)
            consultar_row(args, work, home, owner_url, table)
        if "ledger" in sections:
            settle(owner_url)
            ledger_row(args, home, owner_url, table)
    table.print()
    print(f"\n{bench.load_average()} at the end")


if __name__ == "__main__":
    main()
