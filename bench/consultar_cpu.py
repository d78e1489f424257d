"""CPU per `/clientes/{cpf}/consultar` request over real HTTP, source trees compared in the same
minutes: what the API processes and the PostgreSQL server spent (from /proc) across a wrk run,
divided by the requests it got answered.

    .venv/bin/python bench/consultar_cpu.py --tree main=/tmp/main/src --tree this=src

One embedded PostgreSQL loaded with `--customers` CPFs by this tree's sink (so this tree's
migrations); per tree `--api-procs` processes served as `bench/_support.py serve` serves them
(`caudal api`'s collector tuning), on their own port; then `--rounds` rounds of wrk (c=16,
random CPFs, `--duration` s) alternating the trees (the order flips every round). A wall-clock
rate on a shared machine is mostly the neighbours' doing; CPU per request is steadier. The
PostgreSQL figure counts every server process (backends, walwriter, autovacuum...), reaped
children included.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
from pathlib import Path
from typing import Any

import _support as bench
import customers_consultar

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of a process (+ its reaped children's with `children`), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / TICK


def server_cpu(postmaster: int) -> float:
    """The PostgreSQL server's CPU: the postmaster, its live children, its reaped ones."""
    total = cpu_seconds(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:  # ppid
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def per_request(
    name: str, result: dict[str, Any], api: float, pg: float
) -> tuple[float, float, float, float]:
    """(API µs CPU per answered request, PostgreSQL µs per request, req/s, p99 ms) of a wrk
    run during which the API processes spent `api` and the server `pg` seconds of CPU."""
    done = result["requests"] - result["non2xx"] - result["errors"]
    assert done > 0 and not result["non2xx"], (name, result)
    return (api / done * 1e6, pg / done * 1e6, result["rps"], result["p99_us"] / 1000)


def postmaster_of(home: Path) -> int:
    found = list(home.rglob("postmaster.pid"))
    assert found, f"no postmaster.pid under {home}"
    return int(found[0].read_text().split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tree", action="append", required=True, help="name=path/to/src")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--api-procs", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--py-spy", type=Path, help="Write py-spy summaries of the last round's API processes."
    )
    args = parser.parse_args()
    trees = dict(spec.split("=", 1) for spec in args.tree)
    print(bench.load_average(), flush=True)
    with bench.embedded_database() as (work, home, owner_url):
        asyncio.run(customers_consultar.load(home, owner_url, args.customers, 0))
        postmaster = postmaster_of(home)
        lua = bench.write_lua(work)
        token = bench.mint(["customers:activity"])
        paths = customers_consultar.paths_file(work, args.customers)
        with bench.Processes() as procs:
            served: dict[str, tuple[str, list[int]]] = {}
            for name, src in trees.items():
                env = bench.env_for(home, owner_url, PYTHONPATH=str(Path(src).resolve()))
                base = procs.api("serve", bench.free_port(), env, args.api_procs)
                served[name] = (base, [p.pid for p in procs.procs[-args.api_procs :]])
                bench.wrk(base, 8, 2, lua, token=token, paths_file=paths)  # warm
            rows: dict[str, list[tuple[float, float, float, float]]] = {n: [] for n in trees}
            for i in range(args.rounds):
                order = list(trees) if i % 2 == 0 else list(reversed(trees))
                for name in order:
                    base, pids = served[name]
                    profiles = bench.Profiles(args.py_spy if i == args.rounds - 1 else None)
                    profiles.start(name, pids, args.duration)
                    api0, pg0 = sum(cpu_seconds(p) for p in pids), server_cpu(postmaster)
                    result = bench.wrk(
                        base, args.concurrency, args.duration, lua, token=token, paths_file=paths
                    )
                    api1, pg1 = sum(cpu_seconds(p) for p in pids), server_cpu(postmaster)
                    profiles.finish(name)
                    row = per_request(name, result, api1 - api0, pg1 - pg0)
                    rows[name].append(row)
                    print(
                        f"round {i} {name}: API {row[0]:.0f} µs/req, PostgreSQL {row[1]:.0f}"
                        f" µs/req, {row[2]:,.0f} req/s, p99 {row[3]:.1f} ms",
                        flush=True,
                    )
    print(bench.load_average(), flush=True)
    first = rows[next(iter(trees))]
    for name, runs in rows.items():
        med = [statistics.median(r[k] for r in runs) for k in range(4)]
        # each round's pair ran back to back: steadier than the medians of whole columns
        ratios = [
            statistics.median(r[k] / f[k] for r, f in zip(runs, first, strict=True)) for k in (0, 1)
        ]
        print(
            f"{name}: median API {med[0]:.0f} µs CPU/req, PostgreSQL {med[1]:.0f} µs CPU/req,"
            f" {med[2]:,.0f} req/s, p99 {med[3]:.1f} ms ({len(runs)} rounds); median ratio"
            f" to {next(iter(trees))} in the same round: API {ratios[0]:.3f},"
            f" PostgreSQL {ratios[1]:.3f}"
        )


if __name__ == "__main__":
    main()
