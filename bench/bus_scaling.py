"""Scaling a consumer group out with `caudal worker` processes on the PostgreSQL bus.

    .venv/bin/python bench/bus_scaling.py [--events 200000] [--workers 1,2,4] [--lease 5]

1. Drain: a backlog of `--events` canonical events on the `events` topic is drained into the lake
   (`caudal worker --group lake`, real Parquet files) by 1, 2 and 4 worker processes; the group is
   moved back to the start and the lake emptied between runs. Prints the time to lag 0 from the
   workers' start and the drain rate from the first delivery.
2. Kill: two workers keep up with a steady stream (`--rate` events/s); one is killed with SIGKILL;
   prints the highest lag and how long after the kill the lag is back to 0 (its partitions wait
   for their lease, `--lease` seconds, to expire).

Everything runs on this machine (embedded PostgreSQL, workers, publisher): print `uptime` with
the figures; on 2 cores expect no gain past 2 processes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from caudal.bus.postgres import PostgresBus
from caudal.events.intake import to_message
from caudal.events.model import CanonicalEvent
from caudal.platform.db import migrations
from caudal.platform.db.embedded import EmbeddedPostgres
from caudal.platform.db.pool import Database
from caudal.platform.settings import BusSettings

GROUP = "lake"


def event(n: int) -> CanonicalEvent:
    now = datetime.now(UTC)
    return CanonicalEvent(
        source="frontend",
        type="click_button_help",
        version="1",
        occurred_at=now,
        received_at=now,
        data={"screen": "home", "n": n},
        device={"platform": "Android", "deviceId": f"dev-{n % 997}"},
    )


class Workers:
    """`caudal worker --group lake` processes on the bench's home."""

    def __init__(self, home: Path, lease: float) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CAUDAL_")}
        self.env.update(
            CAUDAL_HOME=str(home),
            CAUDAL_BUS__LEASE_SECONDS=str(lease),
            CAUDAL_LOG_LEVEL="warning",
        )
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> None:
        for _ in range(count):
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "caudal", "worker", "--group", GROUP],
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def kill_one(self) -> None:
        victim = self.procs.pop()
        victim.send_signal(signal.SIGKILL)
        victim.wait()

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            proc.wait(timeout=60)
        self.procs.clear()


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    while True:
        if await check():
            return
        await asyncio.sleep(0.25)


async def registered(bus: PostgresBus) -> bool:
    return GROUP in {g.group for g in await bus.status()}


async def caught_up(bus: PostgresBus, members: int) -> bool:
    [status] = [g for g in await bus.status() if g.group == GROUP]
    return status.members >= members and status.lag == 0


async def publish(bus: PostgresBus, count: int, start: int = 0) -> None:
    for first in range(start, start + count, 1000):
        last = min(first + 1000, start + count)
        await bus.publish([to_message(event(n)) for n in range(first, last)])


async def wait_lag_zero(bus: PostgresBus, limit_s: float) -> tuple[float | None, int]:
    """Seconds until the group's lag is 0, the moment it first dropped (None: never), and the
    highest lag seen."""
    began = time.perf_counter()
    first_drop: float | None = None
    initial = await bus.group_lag(GROUP)
    highest = initial
    while time.perf_counter() - began < limit_s:
        lag = await bus.group_lag(GROUP)
        highest = max(highest, lag)
        if first_drop is None and lag < initial:
            first_drop = time.perf_counter() - began
        if lag == 0:
            return first_drop, highest
        await asyncio.sleep(0.25)
    raise TimeoutError(f"lag still {await bus.group_lag(GROUP)} after {limit_s:.0f}s")


async def run(events: int, counts: list[int], lease: float, rate: int, partitions: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="caudal-bench-"))
    server = EmbeddedPostgres(home)
    owner_url = server.start()
    workers = Workers(home, lease)
    try:
        migrations.migrate(owner_url)
        database = Database(owner_url, min_size=2, max_size=8)
        await database.open()
        bus = PostgresBus(database, BusSettings(partitions=partitions, lease_seconds=lease))
        # Register the group (it starts at the oldest message) before the backlog exists.
        workers.start(1)
        await until(lambda: registered(bus))
        workers.stop()
        began = time.perf_counter()
        await publish(bus, events)
        print(f"backlog: {events:,} events published in {time.perf_counter() - began:.1f}s")
        print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1 and 5 min)")
        print()
        print("| workers | to lag 0 from start (s) | first delivery (s) | drain rate (events/s) |")
        print("|---|---|---|---|")
        for count in counts:
            await bus.replay(GROUP, from_offset=0)
            shutil.rmtree(home / "lake", ignore_errors=True)
            started = time.perf_counter()
            workers.start(count)
            first, _ = await wait_lag_zero(bus, limit_s=3600)
            total = time.perf_counter() - started
            workers.stop()
            assert first is not None
            drain_rate = events / max(total - first, 1e-9)
            print(f"| {count} | {total:.1f} | {first:.1f} | {drain_rate:,.0f} |")

        print()
        workers.start(2)
        await until(lambda: caught_up(bus, members=2))
        stop = asyncio.Event()
        stream_began = time.perf_counter()

        async def stream() -> None:
            n = events
            while not stop.is_set():
                await publish(bus, max(1, rate // 10), n)
                n += max(1, rate // 10)
                await asyncio.sleep(0.1)

        producer = asyncio.create_task(stream())
        await asyncio.sleep(3.0)  # steady state
        workers.kill_one()
        killed = time.perf_counter()
        await asyncio.sleep(0.5)
        _, highest = await wait_lag_zero(bus, limit_s=lease * 6 + 60)
        recovered = time.perf_counter() - killed
        stop.set()
        await producer
        workers.stop()
        print(
            f"kill -9 of 1 of 2 workers under a {rate} events/s stream (lease {lease:g}s,"
            f" stream for {time.perf_counter() - stream_began:.0f}s): lag back to 0"
            f" {recovered:.1f}s after the kill, highest lag {highest:,}"
        )
        print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1 and 5 min)")
        await database.close()
    finally:
        workers.stop()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to compare")
    parser.add_argument("--lease", type=float, default=5.0, help="CAUDAL_BUS__LEASE_SECONDS")
    parser.add_argument("--rate", type=int, default=500, help="events/s during the kill run")
    parser.add_argument("--partitions", type=int, default=16)
    args = parser.parse_args()
    counts = [int(c) for c in args.workers.split(",")]
    asyncio.run(run(args.events, counts, args.lease, args.rate, args.partitions))


if __name__ == "__main__":
    main()
