"""Bus throughput and latency on the embedded PostgreSQL.

    .venv/bin/python bench/bus_throughput.py [--seconds 4] [--partitions 16]

Prints: publish throughput (one message per call, sequential and concurrent; batched), drain
throughput of one consumer group, and publish-to-handle latency p50/p99 at a steady rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from caudal.bus.postgres import PostgresBus
from caudal.platform.bus.model import Message, Record
from caudal.platform.db import migrations
from caudal.platform.db.embedded import EmbeddedPostgres
from caudal.platform.db.pool import Database
from caudal.platform.settings import BusSettings

PAYLOAD = {
    "source": "frontend",
    "type": "click_button_help",
    "version": "1",
    "data": {"screen": "home", "button": "help", "amount": "10.50"},
    "device": {"platform": "ios", "deviceId": "0b1c2d3e"},
}


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Counting:
    def __init__(self, group: str, topic: str = "bench") -> None:
        self.group = group
        self.topics = (topic,)
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


async def timed_publish(bus: PostgresBus, seconds: float, batch: int, concurrency: int) -> float:
    deadline = time.perf_counter() + seconds
    sent = 0

    async def worker(w: int) -> None:
        nonlocal sent
        i = 0
        while time.perf_counter() < deadline:
            await bus.publish(
                [Message("bench", f"w{w}-k{(i + j) % 50}", PAYLOAD) for j in range(batch)]
            )
            sent += batch
            i += batch

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return sent / (time.perf_counter() - started)


async def run(seconds: float, partitions: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="caudal-bench-"))
    server = EmbeddedPostgres(home)
    owner_url = server.start()
    try:
        migrations.migrate(owner_url)
        database = Database(owner_url, min_size=4, max_size=24)
        await database.open()
        bus = PostgresBus(database, BusSettings(partitions=partitions))
        print(f"PostgreSQL embedded (pgserver), {partitions} partitions, {seconds:.0f}s per run")
        print("publish (messages/s):")
        for label, batch, concurrency in (
            ("1 message per call, sequential", 1, 1),
            ("1 message per call, 16 concurrent callers", 1, 16),
            ("batches of 20, 8 concurrent callers", 20, 8),
            ("batches of 500, sequential", 500, 1),
            ("batches of 500, 4 concurrent callers", 500, 4),
        ):
            rate = await timed_publish(bus, seconds, batch, concurrency)
            print(f"  {label:<44} {rate:>10,.0f}")

        async with database.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM bus.messages")
            row = await cur.fetchone()
        backlog = int(row[0]) if row else 0
        drain = Counting("bench-drain")
        drain.target = backlog
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(bus.consume(drain, stop))
        await asyncio.wait_for(drain.done.wait(), 600)
        elapsed = time.perf_counter() - started
        print(
            f"drain: one group, one worker read {backlog:,} messages in {elapsed:.1f}s "
            f"({backlog / elapsed:,.0f} messages/s, batch_size {bus.settings.batch_size})"
        )
        stop.set()
        await task

        for rate in (100, 1000):
            topic = f"bench-latency-{rate}"
            latency = Counting(topic, topic)
            stop = asyncio.Event()
            task = asyncio.create_task(bus.consume(latency, stop))
            await asyncio.sleep(1.5)  # lease the partitions first
            latency.latencies.clear()
            total = int(rate * seconds)
            latency.count, latency.target = 0, total
            latency.done.clear()
            interval = 1.0 / rate
            began = next_at = time.perf_counter()
            for i in range(total):
                payload = {**PAYLOAD, "sent_at": time.time()}
                await bus.publish([Message(topic, f"k{i % 100}", payload)])
                next_at += interval
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            achieved = total / (time.perf_counter() - began)
            await asyncio.wait_for(latency.done.wait(), 60)
            stop.set()
            await task
            lat = [v * 1000 for v in latency.latencies]
            print(
                f"publish-to-handle latency, {achieved:,.0f} single-message publishes/s "
                f"(target {rate}/s): "
                f"p50 {statistics.median(lat):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, "
                f"max {max(lat):.1f} ms ({len(lat)} messages)"
            )
        await database.close()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--partitions", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.partitions))


if __name__ == "__main__":
    main()
