"""What the erasure barrier (events/erasure_barrier.py) costs a sink write when no erasure is
new: PostgreSQL CPU of the writers' gate alone (`SELECT events.erased_since(...)`, the lake's,
Base C's and webhooks' one extra statement, against `SELECT 1`), and of the realtime write
statement with the gate inside it against the same statement without (another tree's SQL),
alternated in one process on one embedded PostgreSQL holding `--erased` past erasures.

    .venv/bin/python bench/erasure_gate_cpu.py --base /tmp/erasure-base/src
"""

from __future__ import annotations

import argparse
import os
import statistics
from datetime import UTC, datetime
from pathlib import Path

import _support as bench
import psycopg

from caudal.events import erasure_barrier
from caudal.events.model import CanonicalEvent
from caudal.events.sinks.rows import json_rows


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _named(text: str, name: str) -> str:
    body = text.split(f"-- name: {name}\n", 1)[1]
    return body.split("\n-- name: ", 1)[0].strip()


def measure(conn: psycopg.Connection, pid: int, sql: str, params: object, n: int) -> float:
    """PostgreSQL CPU µs per execution."""
    before = backend_cpu(pid)
    for _ in range(n):
        conn.execute(sql, params)  # type: ignore[arg-type]
    return (backend_cpu(pid) - before) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="the other tree's src")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch", type=int, default=5000, help="realtime's batch_size")
    parser.add_argument("--erased", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    new_sql = _named(
        (Path(erasure_barrier.__file__).parent / "queries.sql").read_text("utf-8"),
        "realtime_write",
    )
    old_sql = _named(
        (args.base / "caudal" / "events" / "queries.sql").read_text("utf-8"), "realtime_write"
    )
    with bench.embedded_database() as (_, _, url), psycopg.connect(url, autocommit=True) as conn:
        pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
        conn.execute(
            "INSERT INTO events.erased_tokens (token, at)"
            " SELECT md5(i::text) || md5(i::text), now() - interval '1 day'"
            " FROM generate_series(1, %s) i",
            (args.erased,),
        )
        since = datetime.now(UTC) - erasure_barrier.MARGIN
        gate: list[float] = []
        one: list[float] = []
        new: list[float] = []
        old: list[float] = []
        for r in range(args.rounds):
            gate.append(measure(conn, pid, "SELECT events.erased_since(%s)", (since,), args.calls))
            one.append(measure(conn, pid, "SELECT 1", None, args.calls))
            timings: dict[str, float] = {}
            for name, sql in (("new", new_sql), ("old", old_sql))[:: 1 if r % 2 else -1]:
                cpu = 0.0
                for b in range(args.batches):
                    at = datetime.now(UTC)
                    events = [
                        CanonicalEvent("frontend", "click", "1", at, at, {"n": i, "b": b})
                        for i in range(args.batch)
                    ]
                    params = {
                        "rows": json_rows(events),
                        "since": erasure_barrier.horizon(events),
                        "expected": None,
                        "among": None,  # this tree's gate (migration 0007); the base's ignores it
                    }
                    before = backend_cpu(pid)
                    conn.execute(sql, params)
                    cpu += backend_cpu(pid) - before
                conn.execute("TRUNCATE events.recent, events.minute_counts")
                timings[name] = cpu / (args.batches * args.batch) * 1e6
            new.append(timings["new"])
            old.append(timings["old"])
            print(
                f"round {r + 1}: gate {gate[-1]:.1f} µs vs SELECT 1 {one[-1]:.1f} µs per call;"
                f" realtime write {old[-1]:.3f} → {new[-1]:.3f} µs PostgreSQL CPU/event"
                f" ({bench.load_average()})",
                flush=True,
            )
        med = statistics.median
        print(
            f"median of {args.rounds}: gate {med(gate):.1f} µs, SELECT 1 {med(one):.1f} µs per"
            f" call ({args.erased} past erasures); per event at batch {args.batch}:"
            f" +{(med(gate)) / args.batch:.4f} µs; realtime write {med(old):.3f} → {med(new):.3f}"
            f" µs PostgreSQL CPU/event"
        )


if __name__ == "__main__":
    main()
