"""One `caudal worker` draining a seeded bus into the lake and realtime, from several source trees
side by side: the drain rate of each sink and the CPU per event of the worker process and of the
PostgreSQL server (from /proc), which hold when other work loads the machine; rates do not.

Each tree gets its own embedded PostgreSQL, migrated by that tree's code and seeded once with
`--events` frontend events (`hot_path.seed_bus`); every run rewinds the groups to the start,
empties the lake and `events.recent`/`minute_counts`, and starts a fresh worker. A sink is
done when its group has committed the last message of every partition (polled every 50 ms).

    git worktree add /tmp/main-src main   # or any checkout
    .venv/bin/python bench/drain_cpu.py --tree this=src --tree main=/work/main/src --runs 4
    .venv/bin/python bench/drain_cpu.py --tree on=src --tree off=src,CAUDAL_BUS__PREFETCH=false
    .venv/bin/python bench/drain_cpu.py --tree small=src --tree big=src,EVENTS=1000000
    .venv/bin/python bench/drain_cpu.py --tree offsets=src --tree files=src,POLL_LAKE=1
(`POLL_LAKE=1`: poll the lake's row count every 0.5 s besides, as hot_path's drain row did.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import _support as bench
import hot_path
import psycopg

BENCH = Path(__file__).resolve().parent
RESET = """
UPDATE bus.offsets SET xid = '0', seq = 0, owner = NULL, lease_until = NULL, attempts = 0,
    isolate_xid = NULL, isolate_seq = NULL, next_attempt_at = NULL, last_error = NULL;
DELETE FROM bus.members;
TRUNCATE events.recent, events.minute_counts;
"""
# Per partition, the last of the first `events` messages: a run is timed until both sinks have
# committed them, however many more (`--ahead`) wait behind them.
HEADS = """
SELECT array_agg(partition), array_agg(seq)
FROM (SELECT partition, max(seq) AS seq
      FROM (SELECT partition, seq FROM bus.messages ORDER BY seq LIMIT %s) AS first
      GROUP BY partition) AS h
"""
DONE = """
SELECT o.group_name, bool_and(o.seq >= h.seq)
FROM bus.offsets AS o
JOIN unnest(%s::int[], %s::bigint[]) AS h(partition, seq) USING (partition)
WHERE o.group_name IN ('lake', 'realtime')
GROUP BY o.group_name
"""


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """CPU seconds of a process (all its threads), or of one of its threads."""
    stat = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    try:
        fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(postmaster: int) -> dict[int, float]:
    """CPU seconds of the postmaster and each of its children (backends, background workers)."""
    out = {postmaster: cpu_seconds(postmaster)}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(stat[1]) == postmaster:
                out[int(entry.name)] = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return out


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


def seed(src: str, url: str, events: int) -> None:
    code = f"import sys; sys.path[:0] = [{str(BENCH)!r}]; import hot_path; "
    code += f"hot_path.seed_bus({url!r}, {events})"
    env = {**os.environ, "PYTHONPATH": src}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def one_drain(
    src: str,
    home: Path,
    url: str,
    postmaster: int,
    events: int,
    spy: Path | None = None,
    extra: dict[str, str] | None = None,
    poll_lake: bool = False,
) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RESET)
        heads = conn.execute(HEADS, (events,)).fetchone()
        assert heads is not None
        shutil.rmtree(home / "lake", ignore_errors=True)
        env = bench.env_for(home, url, CAUDAL_LAKE__FLUSH_MAX_SECONDS="1")
        env["PYTHONPATH"] = src
        env.update(extra or {})
        pg_before = server_cpu(postmaster)
        with bench.Processes() as procs:
            started = time.perf_counter()
            worker = procs.start([sys.executable, "-m", "caudal", "worker"], env)
            spying = None
            if spy is not None:  # every thread, idle included: where the wall time goes
                record = [bench.PY_SPY, "record", "--pid", str(worker.pid), "--rate", "200"]
                record += ["--idle", "--threads", "--format", "raw", "-o", str(spy)]
                spying = subprocess.Popen([*record, "--nonblocking"], stdout=subprocess.DEVNULL)
            done: dict[str, float] = {}
            polled = time.process_time()
            while len(done) < 2 and time.perf_counter() - started < 600:
                time.sleep(0.05)
                if poll_lake:  # what hot_path's drain row did until this session
                    time.sleep(0.45)
                    hot_path.lake_rows(home)
                for group, finished in conn.execute(DONE, heads).fetchall():
                    if finished and group not in done:
                        done[group] = time.perf_counter() - started
            polled = time.process_time() - polled
            worker_cpu = cpu_seconds(worker.pid)
            loop_cpu = cpu_seconds(worker.pid, worker.pid)  # the main thread runs the event loop
            pg_cpu = spent(pg_before, server_cpu(postmaster))
            if spying is not None:  # py-spy writes its file on SIGINT
                spying.send_signal(signal.SIGINT)
                spying.wait()
    return {
        "lake": events / done["lake"],
        "realtime": events / done["realtime"],
        "worker_us": worker_cpu / events * 1e6,
        "loop_us": loop_cpu / events * 1e6,
        "pg_us": pg_cpu / events * 1e6,
        "bench_us": polled / events * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--tree", action="append", default=[], help="name=path/to/src[,ENV=value...] (worker env)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--ahead",
        type=int,
        default=0,
        help="Seed this many events (≥ --events) and time the first --events of them: the CPU "
        "per event of a drain with that backlog behind it (per tree: `name=src,AHEAD=N`; "
        "`EVENTS=N` sets a tree's --events). The worker's other groups (the kind-filtered ones "
        "only scan) run past them meanwhile, and their CPU counts: for the cost per event of a "
        "backlog's size, drain all of it (EVENTS=N).",
    )
    parser.add_argument("--py-spy", type=Path, help="Record each tree's first run here (raw).")
    args = parser.parse_args()
    from caudal.platform.db.embedded import EmbeddedPostgres

    work = Path(tempfile.mkdtemp(prefix="caudal-draincpu-"))
    trees: dict[str, tuple[str, Path, str, int]] = {}
    counts: dict[str, int] = {}
    polls: dict[str, bool] = {}
    extras: dict[str, dict[str, str]] = {}
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        for spec in args.tree:
            name, rest = spec.split("=", 1)
            src, *settings = rest.split(",")
            extras[name] = dict(setting.split("=", 1) for setting in settings)
            counts[name] = int(extras[name].pop("EVENTS", args.events))  # this tree's own
            ahead = int(extras[name].pop("AHEAD", args.ahead))
            polls[name] = extras[name].pop("POLL_LAKE", "") == "1"
            src = str(Path(src).resolve())
            home = work / name
            home.mkdir()
            embedded = EmbeddedPostgres(home)
            url = embedded.start()
            stack.callback(embedded.stop)
            env = bench.env_for(home, url)
            env["PYTHONPATH"] = src
            migrate = [sys.executable, "-m", "caudal", "migrate"]
            subprocess.run(migrate, env=env, check=True, capture_output=True)
            seed(src, url, max(counts[name], ahead))
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT pg_backend_pid()").fetchone()
                assert row is not None
                postmaster = int(Path(f"/proc/{row[0]}/stat").read_text().rsplit(")")[1].split()[1])
            trees[name] = (src, home, url, postmaster)
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        for run in range(args.runs):
            order = list(trees.items()) if run % 2 == 0 else list(reversed(trees.items()))
            for name, (src, home, url, postmaster) in order:
                load = bench.load_average()
                spy = None
                if args.py_spy is not None and run == 0:
                    args.py_spy.mkdir(parents=True, exist_ok=True)
                    spy = args.py_spy / f"{name}.raw"
                out = one_drain(
                    src, home, url, postmaster, counts[name], spy, extras[name], polls[name]
                )
                results[name].append(out)
                print(
                    f"{name} run {run + 1}: lake {out['lake']:,.0f}/s, realtime "
                    f"{out['realtime']:,.0f}/s, worker {out['worker_us']:.1f} µs CPU/event "
                    f"(its loop {out['loop_us']:.1f}), "
                    f"PostgreSQL {out['pg_us']:.1f} µs CPU/event, "
                    f"this bench {out['bench_us']:.1f} ({load})",
                    flush=True,
                )
        for name, runs in results.items():
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(
                f"{name} (median of {len(runs)}): lake {med['lake']:,.0f}/s, realtime "
                f"{med['realtime']:,.0f}/s, worker {med['worker_us']:.1f} µs CPU/event "
                f"(its loop {med['loop_us']:.1f}), "
                f"PostgreSQL {med['pg_us']:.1f} µs CPU/event, this bench {med['bench_us']:.1f}"
            )
        print(bench.load_average(), flush=True)


if __name__ == "__main__":
    main()
