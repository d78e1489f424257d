"""The lake through a real PostgreSQL bus: a replayed range lands in the files that already
hold it, so the lake keeps each event once (compaction and out-of-order offsets:
tests/integration/events/test_sinks.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from caudal.bus.postgres import PostgresBus
from caudal.events.intake import to_message
from caudal.events.lake_files import LakeFiles
from caudal.events.lake_query import query
from caudal.events.model import CanonicalEvent
from caudal.events.router.consumer import SinkConsumer
from caudal.events.router.table import Routes
from caudal.events.sinks.lake import LakeSink
from caudal.platform.settings import LakeSettings
from tests.support.bus import bus, consuming

__all__ = ["bus"]

EVENTS = 90


def event(n: int) -> CanonicalEvent:
    return CanonicalEvent(
        source="frontend",
        type=f"click_{n % 2}",
        version="1.0",
        occurred_at=datetime(2021, 3, 1 + n % 2, 12, 0, n % 60, tzinfo=UTC),
        received_at=datetime.now(UTC),
        data={"n": n},
        device={"platform": "Android", "deviceId": f"dev-{n % 7}"},
    )


def lake_counts(files: LakeFiles) -> tuple[int, int]:
    _, rows = query(files, "SELECT count(*), count(DISTINCT id) FROM events")
    return rows[0][0], rows[0][1]


@pytest.mark.parametrize("cut", [3, 11])
async def test_a_replayed_range_is_in_the_lake_once(
    bus: PostgresBus, tmp_path: Path, cut: int
) -> None:
    files = LakeFiles(f"file://{tmp_path / 'lake'}")
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text("routes:\n  - name: all\n    sinks: [lake]\n")
    routes = Routes(routes_file, {"lake"})
    events = [event(n) for n in range(EVENTS)]
    await bus.publish([to_message(e) for e in events])
    await drain_to_zero(bus, files, routes, per_delivery=7)
    assert lake_counts(files) == (EVENTS, EVENTS)

    # Replay from a third of the way: deliveries now cut the log elsewhere (`cut` records).
    async with bus.database.connection() as conn:
        cur = await conn.execute(
            "SELECT seq FROM bus.messages WHERE topic = 'events' ORDER BY seq OFFSET %s LIMIT 1",
            (EVENTS // 3,),
        )
        row = await cur.fetchone()
    assert row is not None
    assert await bus.replay("lake", from_offset=int(row[0])) > 0
    await drain_to_zero(bus, files, routes, per_delivery=cut)
    assert lake_counts(files) == (EVENTS, EVENTS)

    # A replay of everything, in deliveries of another size again.
    assert await bus.replay("lake", from_offset=1) == EVENTS
    await drain_to_zero(bus, files, routes, per_delivery=cut + 2)
    assert lake_counts(files) == (EVENTS, EVENTS)
    _, ids = query(files, "SELECT id FROM events ORDER BY id")
    assert [r[0] for r in ids] == sorted(e.id for e in events)


async def drain_to_zero(
    bus: PostgresBus, files: LakeFiles, routes: Routes, per_delivery: int
) -> None:
    """Run a `lake` consumer (deliveries of `per_delivery` records) until the group has no lag."""
    settings = LakeSettings(flush_max_events=per_delivery, flush_max_seconds=0.001)
    sink = LakeSink(bus.database, files, settings, bus.settings.partitions)
    deadline = time.monotonic() + 60
    async with consuming(bus, SinkConsumer(sink, routes)):
        while next((g.lag for g in await bus.status() if g.group == "lake"), -1) != 0:
            assert time.monotonic() < deadline, "the lake group did not catch up in 60 s"
            await asyncio.sleep(0.05)
