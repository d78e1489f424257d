"""CPU per `POST /v1/events/frontend` request over real HTTP (the rows of
`bench/ingest_http.py --api-procs 2`), source trees compared in the same minutes: what the API
processes and the PostgreSQL server spent (from /proc) across a wrk run, divided by the
requests answered, beside the no-op app's API CPU per request on the same server.

    .venv/bin/python bench/ingest_cpu.py --tree main=/tmp/main/src --tree this=src

One embedded PostgreSQL (migrated by the running tree); per tree `--api-procs` processes served
as `bench/_support.py serve` serves them, on their own port, plus as many no-op processes; then
`--rounds` rounds of wrk (c=`--concurrency`, the frontend bodies of `--batches` events, the no-op
on `POST /{path}` with the ×1 body), the trees' order flipping each round. The ratio that
`bench/hot_path.py` prints (ours / no-op req/s) is bounded by the two cores' work per request:
(API + PostgreSQL + wrk) for ours against (API + wrk) for the no-op.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import _support as bench
import psycopg
from consultar_cpu import cpu_seconds, per_request, postmaster_of, server_cpu
from ingest_http import frontend_body


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tree", action="append", required=True, help="name=path/to/src")
    parser.add_argument("--batches", default="1,20", help="Events per request, comma-separated.")
    parser.add_argument("--api-procs", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--noop", action="store_true", help="Also the no-op app, each round.")
    parser.add_argument(
        "--py-spy", type=Path, help="Write py-spy summaries of the last round's API processes."
    )
    args = parser.parse_args()
    bench.require_wrk()
    trees = dict(spec.split("=", 1) for spec in args.tree)
    batches = [int(b) for b in args.batches.split(",")]
    print(bench.load_average(), flush=True)
    with bench.embedded_database() as (work, home, owner_url), bench.Processes() as procs:
        postmaster = postmaster_of(home)
        lua = bench.write_lua(work)
        token = bench.mint(["events:write"])
        bodies = {n: work / f"body-{n}.json" for n in batches}
        for n, path in bodies.items():
            path.write_bytes(frontend_body(n))
        served: dict[str, tuple[str, list[int]]] = {}
        for name, src in trees.items():
            env = bench.env_for(home, owner_url, PYTHONPATH=str(Path(src).resolve()))
            base = procs.api("serve", bench.free_port(), env, args.api_procs)
            served[name] = (base, [p.pid for p in procs.procs[-args.api_procs :]])
            warm = bodies[batches[0]]
            bench.wrk(
                f"{base}/v1/events/frontend", 8, 2, lua, method="POST", token=token, body_file=warm
            )
        if args.noop:
            env = bench.env_for(home, owner_url)
            base = procs.api("noop", bench.free_port(), env, args.api_procs)
            served["no-op"] = (base, [p.pid for p in procs.procs[-args.api_procs :]])
        rows: dict[tuple[str, int], list[tuple[float, float, float, float, float]]] = {}
        for i in range(args.rounds):
            order = list(served) if i % 2 == 0 else list(reversed(served))
            for name in order:
                base, pids = served[name]
                for n in batches if name != "no-op" else batches[:1]:
                    last = i == args.rounds - 1
                    profiles = bench.Profiles(args.py_spy if last else None)
                    profiles.start(f"{name}-x{n}", pids, args.duration)
                    head = _head(owner_url)
                    api0, pg0 = sum(cpu_seconds(p) for p in pids), server_cpu(postmaster)
                    result = bench.wrk(
                        f"{base}/v1/events/frontend",
                        args.concurrency,
                        args.duration,
                        lua,
                        method="POST",
                        token=token,
                        body_file=bodies[n],
                    )
                    api1, pg1 = sum(cpu_seconds(p) for p in pids), server_cpu(postmaster)
                    profiles.finish(f"{name}-x{n}")
                    group = _rows_per_commit(owner_url, head)
                    row = (*per_request(name, result, api1 - api0, pg1 - pg0), group)
                    rows.setdefault((name, n), []).append(row)
                    print(
                        f"round {i} {name} x{n}: API {row[0]:.0f} µs/req, PostgreSQL"
                        f" {row[1]:.0f} µs/req, {row[2]:,.0f} req/s, p99 {row[3]:.1f} ms,"
                        f" {row[4]:.1f} events per commit",
                        flush=True,
                    )
    print(bench.load_average(), flush=True)
    first = next(iter(trees))
    for (name, n), runs in rows.items():
        med = [statistics.median(r[k] for r in runs) for k in range(5)]
        line = (
            f"{name} x{n}: median API {med[0]:.0f} µs CPU/req ({med[0] / n:.1f}/event),"
            f" PostgreSQL {med[1]:.0f} ({med[1] / n:.1f}/event), {med[2]:,.0f} req/s,"
            f" p99 {med[3]:.1f} ms, {med[4]:.1f} events per commit ({len(runs)} rounds)"
        )
        if name in trees and name != first:
            base_runs = rows[(first, n)]
            ratios = [
                statistics.median(r[k] / f[k] for r, f in zip(runs, base_runs, strict=True))
                for k in (0, 1)
            ]
            line += f"; same-round ratio to {first}: API {ratios[0]:.3f}, PG {ratios[1]:.3f}"
        print(line)


def _head(owner_url: str) -> int:
    with psycopg.connect(owner_url, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(max(seq), 0) FROM bus.messages").fetchone()
    return int(row[0]) if row else 0


def _rows_per_commit(owner_url: str, after: int) -> float:
    """Events per publishing transaction since `after` (one xid per group commit)."""
    with psycopg.connect(owner_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT xid) FROM bus.messages WHERE seq > %s", (after,)
        ).fetchone()
    return row[0] / row[1] if row and row[1] else 0.0


if __name__ == "__main__":
    main()
