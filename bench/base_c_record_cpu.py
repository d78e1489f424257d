"""What Base C's timeline insert costs per event (`base_c.store.INSERT_EVENTS`, the statement the
`customers.activity` sink runs per batch before its activity upsert): PostgreSQL CPU and this
process's CPU (parameter adaptation included) per event, this tree's statement against another
tree's (`--base`), alternated round by round in one process on one embedded PostgreSQL migrated
by this tree. The base tree's statement leaves this tree's new columns NULL.

    .venv/bin/python bench/base_c_record_cpu.py --base /tmp/erasure3-base/src
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import _support as bench
import psycopg
from erasure_gate_cpu import backend_cpu
from psycopg.types.json import Jsonb

from caudal.customers.base_c import projection, store
from caudal.events.model import CanonicalEvent


def base_statement(src: Path) -> str:
    text = (src / "caudal" / "customers" / "base_c" / "store.py").read_text("utf-8")
    found = re.search(r'INSERT_EVENTS = """(.*?)"""', text, re.S)
    assert found is not None
    return found.group(1)


def facts(cpfs: list[str], size: int) -> list[projection.Fact]:
    at = datetime.now(UTC)
    data = {"valor": "10.00", "bandeira_cartao": "visa", "produto": "x", "tipo": "credito"}
    events = [
        CanonicalEvent(
            "backend",
            "card-purchase",
            "1.0",
            at,
            at,
            {**data, "cpf": cpfs[i % len(cpfs)], "codigo_transacao": str(i)},
            id=secrets.token_hex(8),
        )
        for i in range(size)
    ]
    return projection.plan(events, bytes.fromhex).facts


def params(fs: list[projection.Fact], with_received: bool) -> tuple[list[object], ...]:
    columns: list[list[object]] = [
        [f.event_id for f in fs],
        [f.cpf_index for f in fs],
        [f.kind.event_type for f in fs],
        [f.occurred_at for f in fs],
        [Jsonb(f.data) for f in fs],
    ]
    if with_received:
        columns.append([f.received_at for f in fs])
    return tuple(columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="the other tree's src")
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--cpfs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    statements = {"base": base_statement(args.base), "this": store.INSERT_EVENTS}
    cpfs = [secrets.token_hex(32) for _ in range(args.cpfs)]
    results: dict[str, list[tuple[float, float]]] = {"base": [], "this": []}
    with bench.embedded_database() as (_, _, url), psycopg.connect(url, autocommit=True) as conn:
        pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
        for r in range(args.rounds):
            for name in ("base", "this")[:: 1 if r % 2 else -1]:
                pg = py = 0.0
                for _ in range(args.batches):
                    fs = facts(cpfs, args.batch)
                    before, started = backend_cpu(pid), time.process_time()
                    conn.execute(statements[name], params(fs, name == "this")).fetchall()
                    py += time.process_time() - started
                    pg += backend_cpu(pid) - before
                conn.execute("TRUNCATE base_c.events")
                n = args.batches * args.batch
                results[name].append((pg / n * 1e6, py / n * 1e6))
            print(
                f"round {r + 1}: "
                + "; ".join(
                    f"{k} {v[-1][0]:.2f} µs PostgreSQL + {v[-1][1]:.2f} µs process CPU/event"
                    for k, v in results.items()
                )
                + f" ({bench.load_average()})",
                flush=True,
            )
    med = statistics.median
    print(
        f"median of {args.rounds}, batch {args.batch}: "
        + "; ".join(
            f"{k} {med(p for p, _ in v):.2f} + {med(q for _, q in v):.2f} µs/event"
            for k, v in results.items()
        )
    )


if __name__ == "__main__":
    main()
