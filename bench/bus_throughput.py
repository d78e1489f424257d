"""Bus throughput and latency, PostgreSQL and NATS JetStream side by side.

    .venv/bin/python bench/bus_throughput.py [--backend postgres,nats] [--seconds 3]
        [--partitions 16] [--rate 200]

For each backend, on this machine (embedded PostgreSQL; a private `nats-server -js` with file
storage on a free port for NATS):

- publish: messages/s with one message per call and with batches of 500 (sequential callers),
  plus, for NATS, the outbox path (`publish(conn=...)` in a transaction, forwarded by the relay);
- publish -> handle latency p50/p99 at a steady `--rate` of single-message publishes;
- drain: a backlog read by one consumer group with 1 and then 2 members (in this process);
- `POST /v1/events/frontend` at 20 events/s with the whole of `caudal up` in this process;
- the CPU seconds each server process (PostgreSQL with its backends; nats-server) and this
  client used in each phase.

The machine may be shared: `uptime` is printed with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from caudal import wiring
from caudal.bus.adapters import build_bus
from caudal.bus.nats import NatsBus
from caudal.bus.postgres import PostgresBus
from caudal.platform import scopes
from caudal.platform.bootstrap import bootstrap
from caudal.platform.bus.model import Message, Record
from caudal.platform.db import migrations
from caudal.platform.db.embedded import EmbeddedPostgres
from caudal.platform.db.pool import Database
from caudal.platform.http.app import create_app
from caudal.platform.settings import BusSettings, Settings

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.nats import NatsServer, nats_server_binary

PAYLOAD = {
    "source": "frontend",
    "type": "click_button_help",
    "version": "1",
    "data": {"screen": "home", "button": "help", "amount": "10.50"},
    "device": {"platform": "ios", "deviceId": "0b1c2d3e"},
}
TICK = os.sysconf("SC_CLK_TCK")


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pids: Callable[[], list[int]]) -> float:
    """User + system CPU of the processes (from /proc)."""
    total = 0
    for pid in pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, and cutime, cstime: the exited children's (PostgreSQL backends that
        # closed during the phase)
        total += sum(int(f) for f in fields[11:15])
    return total / TICK


def tree(root: int) -> list[int]:
    """A process and its children (PostgreSQL: the postmaster and its backends)."""
    found = [root]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == root:
                found.append(int(entry.name))
    return found


class Counting:
    def __init__(self, group: str, topic: str = "bench") -> None:
        self.group = group
        self.topics = (topic,)
        self.batch_size = 500
        self.count = 0
        self.latencies: list[float] = []
        self.done = asyncio.Event()
        self.target = 0

    async def handle(self, records: Sequence[Record]) -> None:
        now = time.time()
        for r in records:
            sent = r.message.payload.get("sent_at")
            if sent is not None:
                self.latencies.append(now - float(sent))
        self.count += len(records)
        if self.target and self.count >= self.target:
            self.done.set()


@dataclass
class Results:
    backend: str
    figures: dict[str, str] = field(default_factory=dict)
    cpu: dict[str, str] = field(default_factory=dict)


class Meter:
    """CPU seconds of the server and of this process over one phase."""

    def __init__(self, server: Callable[[], list[int]], results: Results) -> None:
        self.server = server
        self.results = results

    def phase(self, label: str) -> _Phase:
        return _Phase(self, label)


class _Phase:
    def __init__(self, meter: Meter, label: str) -> None:
        self.meter, self.label = meter, label

    def __enter__(self) -> None:
        self.server0 = cpu_seconds(self.meter.server)
        self.client0 = time.process_time()
        self.wall0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.wall0
        server = cpu_seconds(self.meter.server) - self.server0
        client = time.process_time() - self.client0
        self.meter.results.cpu[self.label] = (
            f"server {server:.1f}s, client {client:.1f}s / {wall:.1f}s wall"
        )


async def timed_publish(bus: Any, seconds: float, batch: int, conn_of: Any = None) -> float:
    deadline = time.perf_counter() + seconds
    sent, i = 0, 0
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        messages = [Message("bench", f"k{(i + j) % 50}", PAYLOAD) for j in range(batch)]
        if conn_of is None:
            await bus.publish(messages)
        else:
            async with conn_of() as conn, conn.transaction():
                await bus.publish(messages, conn=conn)
        sent += batch
        i += batch
    return sent / (time.perf_counter() - started)


async def drain(bus: Any, group: str, backlog: int, members: int) -> float:
    consumers = [Counting(group) for _ in range(members)]
    progress = asyncio.Event()
    for c in consumers:
        c.done, c.target = progress, 1  # every batch sets it: the total is checked here

    stop = asyncio.Event()
    started = time.perf_counter()
    tasks = [asyncio.create_task(bus.consume(c, stop)) for c in consumers]
    while sum(c.count for c in consumers) < backlog:
        await asyncio.wait_for(progress.wait(), 600)
        progress.clear()
    elapsed = time.perf_counter() - started
    stop.set()
    await asyncio.gather(*tasks)
    return backlog / elapsed


async def latency(bus: Any, rate: int, seconds: float) -> tuple[float, float, int]:
    topic = f"bench-latency-{rate}"
    counting = Counting(topic, topic)
    stop = asyncio.Event()
    task = asyncio.create_task(bus.consume(counting, stop))
    await asyncio.sleep(2.0)  # lease the partitions first
    total = int(rate * seconds)
    counting.target = total
    interval = 1.0 / rate
    next_at = time.perf_counter()
    for i in range(total):
        await bus.publish([Message(topic, f"k{i % 100}", {**PAYLOAD, "sent_at": time.time()})])
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    await asyncio.wait_for(counting.done.wait(), 60)
    stop.set()
    await task
    lat = [v * 1000 for v in counting.latencies]
    return statistics.median(lat), pct(lat, 0.99), len(lat)


async def bench(backend: str, args: argparse.Namespace, home: Path) -> Results:
    results = Results(backend)
    pg = EmbeddedPostgres(home / backend)
    owner_url = pg.start()
    nats: NatsServer | None = None
    try:
        migrations.migrate(owner_url)
        pid = int((home / backend / "pgdata" / "postmaster.pid").read_text().split()[0])
        database = Database(owner_url, min_size=4, max_size=16)
        await database.open()
        settings = BusSettings(partitions=args.partitions, poll_interval_seconds=0.5)
        bus: Any
        if backend == "nats":
            nats = NatsServer(nats_server_binary())
            nats.start()
            assert nats.process is not None
            nats_pid = nats.process.pid
            settings = settings.model_copy(update={"backend": "nats", "nats_url": nats.url})
            bus = NatsBus(database, settings)
            meter = Meter(lambda: [nats_pid], results)
        else:
            bus = PostgresBus(database, settings)
            meter = Meter(lambda: tree(pid), results)
        published = 0
        for label, batch in (("publish, 1 per call", 1), ("publish, batches of 500", 500)):
            with meter.phase(label):
                rate = await timed_publish(bus, args.seconds, batch)
            published += int(rate * args.seconds)
            results.figures[label] = f"{rate:,.0f}/s"
        if backend == "nats":
            label = "publish, outbox (500/txn)"
            with meter.phase(label):
                rate = await timed_publish(bus, args.seconds, 500, database.connection)
            results.figures[label] = f"{rate:,.0f}/s (relay forwards it when a group runs)"
        backlog = await backlog_of(bus, database)
        for members in (1, 2):
            label = f"drain, {members} member{'s' if members > 1 else ''}"
            with meter.phase(label):
                rate = await drain(bus, f"drain-{members}", backlog, members)
            results.figures[label] = f"{rate:,.0f}/s ({backlog:,} messages)"
        label = f"publish->handle at {args.rate}/s"
        with meter.phase(label):
            p50, p99, n = await latency(bus, args.rate, args.seconds)
        results.figures[label] = f"p50 {p50:.1f} ms, p99 {p99:.1f} ms ({n})"
        if isinstance(bus, NatsBus):
            await bus.close()
        await database.close()
        label = "POST /v1/events/frontend, 20 events/s"
        with meter.phase(label):
            results.figures[label] = await ingest(owner_url, settings, home / backend, args)
    finally:
        if nats is not None:
            nats.close()
        pg.stop()
    return results


async def ingest(owner_url: str, bus: BusSettings, home: Path, args: argparse.Namespace) -> str:
    """`caudal up` in this process (API, workers, scheduler) on this bus; 10 requests of 2
    events per second; the requests' latency."""
    settings = Settings(home=home / "app", database_url=SecretStr(owner_url), bus=bus)
    container = bootstrap(settings, bus=build_bus, configure_logging=False)
    app = create_app(container, wiring.capabilities(), run_services=True)
    headers = {"Authorization": f"Bearer {container.tokens.mint('bench', scopes.ALL, 600)}"}
    body = {
        "device": {"platform": "Android", "deviceId": "bench"},
        "data": [
            {"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_button_help"},
            {"timestamp": "2020-10-12T20:04:07-0300", "event_id": "click_button_next"},
        ],
    }
    latencies: list[float] = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as http,
    ):
        next_at = time.perf_counter()
        for _ in range(int(10 * max(args.seconds, 3))):
            began = time.perf_counter()
            response = await http.post("/v1/events/frontend", json=body, headers=headers)
            assert response.status_code == 202, response.text
            latencies.append((time.perf_counter() - began) * 1000)
            next_at += 0.1
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    return (
        f"p50 {statistics.median(latencies):.1f} ms, p99 {pct(latencies, 0.99):.1f} ms "
        f"({len(latencies)} requests)"
    )


async def backlog_of(bus: Any, database: Database) -> int:
    """Messages on the `bench` topic (the drain's backlog), once the outbox is forwarded."""
    if isinstance(bus, NatsBus):
        probe = Counting("probe-outbox", "nothing")
        stop = asyncio.Event()
        task = asyncio.create_task(bus.consume(probe, stop))  # runs the relay
        while True:
            async with database.connection() as conn:
                cur = await conn.execute("SELECT count(*) FROM bus.outbox")
                row = await cur.fetchone()
            if row is not None and row[0] == 0:
                break
            await asyncio.sleep(0.2)
        stop.set()
        await task
        js = await bus.js()
        info = await js.stream_info(bus.names.stream)
        return int(info.state.messages)
    async with database.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM bus.messages WHERE topic = 'bench'")
        row = await cur.fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", default="postgres,nats")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--rate", type=int, default=200)
    args = parser.parse_args()
    load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    print(f"uptime before: {load.strip()}")
    home = Path(tempfile.mkdtemp(prefix="caudal-bench-bus-"))
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    try:
        all_results = [asyncio.run(bench(b, args, home)) for b in backends]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    labels = list(dict.fromkeys(k for r in all_results for k in r.figures))
    width = max(len(label) for label in labels) + 2
    print(f"\n{args.partitions} partitions, {args.seconds:.0f}s per publish run")
    print(f"{'':<{width}}" + "".join(f"{r.backend:<48}" for r in all_results))
    for label in labels:
        print(
            f"{label:<{width}}" + "".join(f"{r.figures.get(label, '-'):<48}" for r in all_results)
        )
    print("\nCPU used per phase (server = PostgreSQL + backends, or nats-server):")
    for label in labels:
        print(f"{label:<{width}}" + "".join(f"{r.cpu.get(label, '-'):<48}" for r in all_results))
    load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    print(f"\nuptime after: {load.strip()}")


if __name__ == "__main__":
    main()
