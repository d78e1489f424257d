"""`caudal up`, backend ×1, c=16, from several source trees side by side: requests per second
and the CPU the `caudal up` process spent per request (its sinks included), read from
/proc around each wrk run. CPU per request holds when other work loads the machine; req/s
does not. Each tree gets its own embedded PostgreSQL, migrated by that tree's code.

    git worktree add /tmp/bp 641332c
    .venv/bin/python bench/up_cpu.py --tree this=src --tree bp=/tmp/bp/src --noop --runs 4
    .venv/bin/python bench/up_cpu.py --tree 60s=src --tree 1s=src,CAUDAL_LAKE__FLUSH_MAX_SECONDS=1
    .venv/bin/python bench/up_cpu.py --tree this=src --tree main=/tmp/main/src --row frontend20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import _support as bench
import hot_path
from ingest_http import frontend_body


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        help="name=path/to/src[,SETTING=value...] (settings: CAUDAL_* variables for that tree)",
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5)
    parser.add_argument("--noop", action="store_true", help="Also the no-op app, alternated.")
    parser.add_argument(
        "--row",
        choices=["backend", "frontend20"],
        default="backend",
        help="backend ×1 at c=16 (default), or frontend ×20 at c=64 (also µs per event).",
    )
    args = parser.parse_args()
    bench.require_wrk()
    from caudal.platform.db.embedded import EmbeddedPostgres

    work = Path(tempfile.mkdtemp(prefix="caudal-upcpu-"))
    lua = bench.write_lua(work)
    token = bench.mint(["events:write"])
    body = work / f"{args.row}.json"
    if args.row == "backend":
        body.write_bytes(json.dumps(hot_path.BACKEND_BODY).encode())
        route, concurrency, events = "/v1/events/backend", 16, 1
    else:
        body.write_bytes(frontend_body(20))
        route, concurrency, events = "/v1/events/frontend", 64, 20
    bases: dict[str, str] = {}
    pids: dict[str, int] = {}
    with ExitStack() as stack, bench.Processes() as procs:
        stack.callback(shutil.rmtree, work, True)
        for spec in args.tree:
            name, rest = spec.split("=", 1)
            src, *settings = rest.split(",")
            home = work / name
            home.mkdir()
            embedded = EmbeddedPostgres(home)
            url = embedded.start()
            stack.callback(embedded.stop)
            env = bench.env_for(home, url)  # shipped settings, as hot_path.py's `caudal up` rows
            env.update(s.split("=", 1) for s in settings)
            env["PYTHONPATH"] = str(Path(src).resolve())
            migrate = [sys.executable, "-m", "caudal", "migrate"]
            subprocess.run(migrate, env=env, check=True, capture_output=True)
            port = bench.free_port()
            up = procs.start([sys.executable, "-m", "caudal", "up", "--port", str(port)], env)
            bases[name], pids[name] = f"http://127.0.0.1:{port}", up.pid
            bench.wait_ready(bases[name])
        if args.noop:
            bases["no-op"] = procs.api("noop", bench.free_port(), bench.env_for(work, ""))
        print(bench.load_average(), flush=True)
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in bases}
        for base in bases.values():  # warm-up
            url = base + route
            bench.wrk(url, 8, 2, lua, method="POST", token=token, body_file=body)
        for run in range(args.runs):
            for name, base in bases.items() if run % 2 == 0 else reversed(bases.items()):
                before = cpu_seconds(pids[name]) if name in pids else 0.0
                out = bench.wrk(
                    base + route,
                    concurrency,
                    args.duration,
                    lua,
                    method="POST",
                    token=token,
                    body_file=body,
                )
                spent = cpu_seconds(pids[name]) - before if name in pids else 0.0
                out["cpu_us"] = spent / max(out["requests"], 1) * 1e6
                results[name].append(out)
        for name, runs in results.items():
            rps = statistics.median(r["rps"] for r in runs)
            p99 = statistics.median(r["p99_us"] for r in runs) / 1000
            errors = sum(r["non2xx"] + r["errors"] for r in runs)
            cpu = statistics.median(r["cpu_us"] for r in runs)
            line = f"{name}: {rps:,.0f} req/s, p99 {p99:.1f} ms"
            line += f", {cpu:.0f} µs CPU/request (median)" if name in pids else ""
            line += f" = {cpu / events:.1f} µs/event" if name in pids and events > 1 else ""
            cpus = ", ".join(f"{r['cpu_us']:.0f}" for r in runs)
            line += f" (runs: {cpus})" if name in pids else ""
            print(line + (f", {errors} errors" if errors else ""))
        print(bench.load_average(), flush=True)


if __name__ == "__main__":
    main()
