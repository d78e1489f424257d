"""What a mass erasure costs each sink write while it is within the writes' window: a realtime
write of `--batch` events holding no erased token (`--tokens`: one unerased token each), with
`--erased` tokens erased just now (events.erased_tokens), PostgreSQL CPU plus this process's
CPU per write. Run once per tree
(each migrates its own embedded PostgreSQL), alternating:

    PYTHONPATH=/tmp/erasure2-base/src .venv/bin/python bench/erasure_mass_cpu.py --erased 20000
    PYTHONPATH=src .venv/bin/python bench/erasure_mass_cpu.py --erased 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import _support as bench
import psycopg

from caudal.events.model import CanonicalEvent
from caudal.events.sinks.realtime import RealtimeSink
from caudal.platform.db.pool import Database


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(url: str, args: argparse.Namespace) -> list[tuple[float, float, float]]:
    database = Database(url, min_size=1, max_size=1)
    await database.open()
    sink = RealtimeSink(database)
    async with database.connection(autocommit=True) as conn:
        cur = await conn.execute("SELECT pg_backend_pid()")
        pid = int((await cur.fetchone())[0])  # type: ignore[index]
    out = []
    try:
        for r in range(args.rounds):
            pg, py = backend_cpu(pid), time.process_time()
            wall = time.perf_counter()
            for w in range(args.writes):
                at = datetime.now(UTC)
                events = [
                    CanonicalEvent("frontend", "click", "1", at, at, {"n": i, "w": w, "r": r})
                    if not args.tokens
                    else CanonicalEvent(
                        "frontend", "click", "1", at, at, {"n": i, "cpf": secrets.token_hex(32)}
                    )
                    for i in range(args.batch)
                ]
                await sink.write(events)
            out.append(
                (
                    (backend_cpu(pid) - pg) / args.writes * 1e3,
                    (time.process_time() - py) / args.writes * 1e3,
                    (time.perf_counter() - wall) / args.writes * 1e3,
                )
            )
    finally:
        await database.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--erased", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", action="store_true", help="each event holds a CPF token")
    args = parser.parse_args()
    with bench.embedded_database() as (_, _, url):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO events.erased_tokens (token, at)"
                " SELECT md5(i::text) || md5(i::text), clock_timestamp()"
                " FROM generate_series(1, %s) i",
                (args.erased,),
            )
        rounds = asyncio.run(run(url, args))
    med = statistics.median
    print(
        f"{args.erased} tokens erased in the window, realtime write of {args.batch} events"
        f"{' holding a token each' if args.tokens else ''}:"
        f" PostgreSQL {med(r[0] for r in rounds):.2f} ms + process"
        f" {med(r[1] for r in rounds):.2f} ms CPU, wall {med(r[2] for r in rounds):.2f} ms"
        f" per write (median of {args.rounds} x {args.writes}; {bench.load_average()})"
    )


if __name__ == "__main__":
    main()
