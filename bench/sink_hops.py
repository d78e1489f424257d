"""CPU per event of the drain's Python hops, in process and without a database: decoding a
fetched payload (and a fetched row's message: decoded by the first group of the process, shared
by the others), each consumer group's routing and event decoding, the realtime rows document,
and the lake's Parquet files for one delivery and for the same delivery again. CPU time (the
best of 3), so a loaded machine inflates it less than wall time; compare two versions of the
code in the same minute (the branch point with `PYTHONPATH=<its src>`: its lake sink names
`plan` `parts`).

    .venv/bin/python bench/sink_hops.py
"""

from __future__ import annotations

import asyncio
import copy
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import _support as bench

from caudal.bus import codec
from caudal.bus.message_cache import MessageCache
from caudal.events.intake import to_message
from caudal.events.lake_files import LakeFiles
from caudal.events.model import CanonicalEvent
from caudal.events.router.consumer import SinkConsumer
from caudal.events.router.table import Routes
from caudal.events.sinks.lake import LakeSink
from caudal.events.sinks.rows import json_rows
from caudal.platform.bus.model import Message, Record
from caudal.platform.settings import LakeSettings

EVENTS = 10_000
T = TypeVar("T")
GROUPS = ["lake", "realtime", "customers.activity", "webhook"]  # the `events` topic's groups


class Counting:
    def __init__(self, name: str) -> None:
        self.name = name
        self.positioned = name == "lake"

    async def write(self, events: Sequence[CanonicalEvent], positions: Sequence[Any] = ()) -> None:
        pass


def cpu_us(work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best / EVENTS * 1e6


def cpu_us_each(make: Callable[[], T], work: Callable[[T], object]) -> float:
    """`cpu_us` of `work` on a fresh `make()` each time (made outside the timing)."""
    best = float("inf")
    for _ in range(3):
        made = make()
        started = time.process_time()
        work(made)
        best = min(best, time.process_time() - started)
    return best / EVENTS * 1e6


def main() -> None:
    now = datetime.now(UTC)
    messages = [to_message(bench.frontend_event(i)) for i in range(EVENTS)]
    texts = [codec.dumps(m.payload) for m in messages]
    records = [  # as a bus member builds them: the payload decoded from the fetched text
        Record(Message(m.topic, m.key, codec.loads(t), id=m.id, headers=m.headers), i + 1, 1, now)
        for i, (m, t) in enumerate(zip(messages, texts, strict=True))
    ]
    decoding = cpu_us(lambda: [codec.loads(t) for t in texts])
    print(f"decode a fetched payload (bus member): {decoding:.2f} µs/event")
    rows = [
        (i + 1, m.topic, m.key, m.id, t, "{}")
        for i, (m, t) in enumerate(zip(messages, texts, strict=True))
    ]
    first = cpu_us(lambda: [MessageCache(EVENTS).message(*r) for r in rows])
    shared = MessageCache(EVENTS)
    [shared.message(*r) for r in rows]
    others = cpu_us(lambda: [shared.message(*r) for r in rows])
    print(f"message of a fetched row, first group of the process: {first:.2f} µs/event")
    print(f"message of a fetched row, each other group:           {others:.2f} µs/event")
    routes = Routes(None, set(GROUPS))
    consumers = {g: SinkConsumer(Counting(g), routes) for g in GROUPS}  # type: ignore[arg-type]

    def fresh() -> list[Record]:  # new message objects: as a fresh fetch of other positions
        return [Record(copy.copy(r.message), r.offset, 1, now) for r in records]

    for group in GROUPS:  # each group on messages no group of the process has routed yet
        spent = cpu_us_each(fresh, lambda rs, c=consumers[group]: asyncio.run(c.handle(rs)))
        print(f"route + decode the event, group {group:<18}: {spent:.2f} µs/event")

    def one_process(rs: list[Record]) -> None:  # every group, in turn, on the same messages
        for group in GROUPS:
            asyncio.run(consumers[group].handle(rs))

    spent = cpu_us_each(fresh, one_process)
    print(f"route + decode, the four groups of one process in turn: {spent:.2f} µs/event")
    events = [CanonicalEvent.from_dict(r.message.payload) for r in records]
    positions = [(r.message.key, r.offset, r.published_at) for r in records]
    print(f"realtime rows document: {cpu_us(lambda: json_rows(events)):.2f} µs/event")

    def lake_delivery(files: LakeFiles) -> None:
        sink = LakeSink(None, files, LakeSettings(), 16)  # type: ignore[arg-type]
        grouping = getattr(sink, "plan", None) or sink.parts  # type: ignore[attr-defined]
        sink._write_files(grouping(events, positions))

    def fresh_lake() -> LakeFiles:
        return LakeFiles(f"file://{tempfile.mkdtemp(prefix='caudal-sink-hops-')}")

    print(f"lake files, one delivery: {cpu_us(lambda: lake_delivery(fresh_lake())):.2f} µs/event")
    again = fresh_lake()
    lake_delivery(again)
    print(
        f"lake files, the same delivery again: {cpu_us(lambda: lake_delivery(again)):.2f} µs/event"
    )


if __name__ == "__main__":
    main()
