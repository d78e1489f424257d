"""CPU time per posting of the ledger engine and of the bus path (issue 14): the figure that
compares two versions on a shared machine, where postings/s move with the neighbours' load.

Each run posts the rows of `bench/hot_path.py --only ledger` (30,000 impacts over 1,000 accounts
in batches of 1,000 by 2 engine workers; 10,000 through the intake and 2 posting consumers) and
prints, per posting: this process's CPU (`time.process_time`) and the PostgreSQL server's (its
processes' CPU from /proc, the reaped backends included), beside the wall-clock rate and the load.
Run it alternately from the two source trees under comparison:

    PYTHONPATH=/work/main/src .venv/bin/python bench/ledger_cpu.py --runs 2
    PYTHONPATH=$PWD/src .venv/bin/python bench/ledger_cpu.py --runs 2

The bus row's CPU includes the intake of its impacts (its rate does not); `--split` measures
the intake and the posting consumers as two rows. Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import _support as bench
import ledger_postings as lp
import psycopg
import structlog

TICKS = os.sysconf("SC_CLK_TCK")


def postmaster_of(owner_url: str) -> int:
    """The server's main process: the parent of a backend."""
    with psycopg.connect(owner_url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        # read while the backend lives: once the connection closes, its /proc entry goes
        return int(_stat(int(row[0]))[1])


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat from the state field on (the command name may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def server_cpu(postmaster: int) -> float:
    """Seconds of CPU of the server so far: the postmaster with the children it reaped (exited
    backends), plus its living children (backends, WAL writer, checkpointer...)."""
    fields = _stat(postmaster)
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    for child in children:
        try:
            ticks += sum(int(f) for f in _stat(int(child))[11:13])
        except OSError:
            continue  # exited meanwhile: counted in the postmaster's cutime next time
    return ticks / TICKS


class Server:
    """What the server did during a row: its CPU, the WAL it wrote, and (with
    pg_stat_statements loaded) each statement's execution time."""

    def __init__(self, owner_url: str, statements: bool) -> None:
        self.owner_url = owner_url
        self.postmaster = postmaster_of(owner_url)  # before the pool: a failure leaves none open
        self.statements = statements and self._has_statements()

    def _sql(self, query: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.owner_url, autocommit=True) as conn:
            return conn.execute(query).fetchall()  # type: ignore[arg-type]

    def _has_statements(self) -> bool:
        try:
            self._sql("SELECT pg_stat_statements_reset()")
        except psycopg.Error:
            print("(no pg_stat_statements on this server: no per-statement figures)")
            return False
        return True

    def mark(self) -> tuple[float, str]:
        if self.statements:
            self._sql("SELECT pg_stat_statements_reset()")
        return server_cpu(self.postmaster), str(self._sql("SELECT pg_current_wal_lsn()")[0][0])

    def since(self, mark: tuple[float, str]) -> tuple[float, int]:
        """(CPU seconds, WAL bytes) since `mark`."""
        lsn = self._sql(f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{mark[1]}')")[0][0]
        return server_cpu(self.postmaster) - mark[0], int(lsn)

    def top_statements(self, postings: int, top: int = 9) -> list[str]:
        if not self.statements:
            return []
        rows = self._sql(
            "SELECT calls, total_exec_time, wal_bytes,"
            " regexp_replace(left(query, 70), '\\s+', ' ', 'g') FROM pg_stat_statements"
            " WHERE query NOT LIKE '%pg_stat_statements%'"
            f" ORDER BY total_exec_time DESC LIMIT {top}"
        )
        return [
            f"    {total * 1000 / postings:7.1f} µs {int(wal) / postings:6.0f} B WAL"
            f" {calls:>7} calls  {query}"
            for calls, total, wal, query in rows
        ]


async def measured(
    name: str, postings: int | None, server: Server, run: Callable[[], Awaitable[float]]
) -> None:
    """One row: the run's rate, and per posting this process's CPU, the server's CPU and WAL
    bytes; `busy` is both processes' CPU over the wall time (2.0 = two cores kept busy)."""
    cpu, load = time.process_time(), os.getloadavg()[0]
    mark = server.mark()
    started = time.perf_counter()
    rate = await run()
    wall = time.perf_counter() - started
    python = time.process_time() - cpu
    await asyncio.sleep(1)  # the run's pool has closed: let the server reap its backends
    pg, wal = server.since(mark)
    count = postings if postings is not None else round(rate * wall)
    print(
        f"{name:7s} {rate:8,.0f} postings/s  Python {python / count * 1e6:6.1f} µs/posting  "
        f"PostgreSQL {pg / count * 1e6:6.1f} µs/posting  WAL {wal / count:6.0f} B/posting  "
        f"busy {(python + pg) / wall:4.2f} cores  (load {load:.2f})",
        flush=True,
    )
    for line in server.top_statements(count):
        print(line, flush=True)


async def main(args: argparse.Namespace, home: Path, owner_url: str) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    server = Server(owner_url, args.statements)
    container = lp.container_on(home, owner_url)
    await container.database.open()
    rng = random.Random(3)
    accounts = [("0001", f"{n:09d}") for n in range(1000)]
    try:
        for _ in range(args.runs):
            engine = lp.make_impacts(rng, args.engine_impacts, accounts)
            bus = lp.make_impacts(rng, args.bus_impacts, accounts)

            async def on_the_engine(impacts: list[lp.Impact] = engine) -> float:
                return await lp.post_direct(
                    container, impacts, 2, 1000, by_partition=args.by_partition
                )

            async def through_the_bus(impacts: list[lp.Impact] = bus) -> float:
                return (await lp.through_the_bus(container, impacts, 2))[1]

            async def intake(impacts: list[lp.Impact] = bus) -> float:
                return await lp.accept_all(container, impacts)

            if args.seed:
                seed = lp.make_impacts(rng, 50_000, [("0009", a) for _, a in accounts])
                in_threads = functools.partial(lp.seed_engine, owner_url, seed, 2, 5.0)
                await measured(
                    "seed", None, server, functools.partial(asyncio.to_thread, in_threads)
                )
            await measured("engine", len(engine), server, on_the_engine)
            if not args.split:
                await measured("bus", len(bus), server, through_the_bus)
                continue
            await measured("intake", len(bus), server, intake)
            decided = await lp.count_decided(container.database) + len(bus)
            consumers = functools.partial(lp.post_accepted, container, decided, 2)
            await measured("bus", len(bus), server, consumers)
    finally:
        await container.database.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--engine-impacts", type=int, default=30_000)
    parser.add_argument("--bus-impacts", type=int, default=10_000)
    parser.add_argument(
        "--split",
        action="store_true",
        help="The bus row as two: the intake of its impacts, then the posting consumers alone "
        "(the rows' CPU per posting without the other's).",
    )
    parser.add_argument(
        "--worker-gc",
        action="store_true",
        help="Tune the garbage collector as `caudal worker` does (platform/collector.py), "
        "where the posting consumers run in production (hot_path.py's ledger rows do, unless "
        "`--ledger-default-gc`).",
    )
    parser.add_argument(
        "--by-partition",
        action="store_true",
        help="The engine row's two workers each post their own partitions' accounts, as the "
        "posting group's members do, as in hot_path.py's first engine row (by default they share "
        "every account: its second).",
    )
    parser.add_argument(
        "--seed",
        action="store_true",
        help="A row for seed 003's engine first (hot_path.py's baseline: 2 threads, 5 s).",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="Each row's top statements per posting (a server with pg_stat_statements loaded, "
        "`--database-url`).",
    )
    parser.add_argument("--database-url", help="An empty database instead of an embedded one.")
    arguments = parser.parse_args()
    print(f"ledger CPU per posting: {bench.load_average()}", flush=True)
    with bench.embedded_database(arguments.database_url) as (_, home, owner_url):
        if arguments.worker_gc:
            from caudal.platform import collector

            collector.tune_for_streaming()
        asyncio.run(main(arguments, home, owner_url))
