"""The lake and realtime sinks against a real PostgreSQL and real Parquet files."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from msgspec.structs import replace

from caudal.bus.codec import partition_of
from caudal.bus.notify import Notifier
from caudal.bus.postgres import NOTIFY_CHANNEL
from caudal.events import lake_spans
from caudal.events.lake_files import LakeFiles
from caudal.events.lake_query import query
from caudal.events.model import CanonicalEvent
from caudal.events.sinks.lake import LakeSink, flush_now
from caudal.events.sinks.realtime import RealtimeSink
from caudal.platform.bootstrap import Container
from caudal.platform.settings import LakeSettings

Auth = Callable[..., dict[str, str]]
NOW = datetime.now(UTC).replace(microsecond=0)
PARTITIONS = 4


def event(
    n: int, *, type_: str = "click_a", day: int = 12, platform: str | None = "Android"
) -> CanonicalEvent:
    return CanonicalEvent(
        source="frontend" if platform else "backend",
        type=type_,
        version="1.0",
        occurred_at=datetime(2020, 10, day, 23, 0, n % 60, tzinfo=UTC),
        received_at=NOW,
        data={"n": n, "valor": "10.10", "nested": {"a": [1, 2]}},
        id=f"00000000-0000-0000-0000-{n:012d}",
        trace_key=f"t{n}",
        device={"platform": platform, "deviceId": f"dev-{n % 3}"} if platform else None,
    )


@pytest.fixture
async def opened(container: Container) -> AsyncIterator[Container]:
    await container.database.open()
    yield container
    await container.database.close()


def lake(tmp_path: Path) -> LakeFiles:
    return LakeFiles(f"file://{tmp_path / 'lake'}")


def sink(container: Container, files: LakeFiles, **settings: Any) -> LakeSink:
    lake_settings = LakeSettings(**{"flush_max_seconds": 0.001, **settings})
    return LakeSink(container.database, files, lake_settings, PARTITIONS)


def at(events: list[CanonicalEvent], first_offset: int = 1) -> list[tuple[str, int, datetime]]:
    """Bus positions of a delivery: every event on its device's key, offsets in order."""
    return [
        (f"device:{e.device and e.device['deviceId']}", first_offset + i, datetime.now(UTC))
        for i, e in enumerate(events)
    ]


def lake_ids(files: LakeFiles) -> list[str]:
    _, rows = query(files, "SELECT id FROM events ORDER BY id")
    return [r[0] for r in rows]


async def test_lake_writes_the_contract_columns_once_per_event(
    opened: Container, tmp_path: Path
) -> None:
    files = lake(tmp_path)
    lake_sink = sink(opened, files)
    batch = [event(i) for i in range(5)] + [
        event(10 + i, type_="selfie-uploaded", day=13, platform=None) for i in range(3)
    ]
    await lake_sink.write(batch[:4], at(batch[:4]))  # a first attempt, never committed
    await lake_sink.write(batch, at(batch))  # redone (longer): the same files, replaced
    await lake_sink.write(batch[:6], at(batch[:6]))  # and again (shorter) ...
    await lake_sink.write(batch[6:], at(batch[6:], 7))  # ... then the rest
    assert lake_ids(files) == sorted(e.id for e in batch)
    parts = sorted(Path(p) for p in files.parts().values() for p in p)
    root = tmp_path / "lake"
    assert sorted({str(p.relative_to(root).parent) for p in parts}) == [
        "backend/selfie-uploaded/dt=2020-10-13",
        "frontend/click_a/dt=2020-10-12",
    ]
    assert all(p.name.startswith("part-p") and p.suffix == ".parquet" for p in parts)
    table = pa.concat_tables(pq.read_table(p) for p in parts if "frontend" in str(p)).sort_by("id")
    assert table.schema.names == [
        "id",
        "source",
        "type",
        "version",
        "occurred_at",
        "received_at",
        "trace_key",
        "platform",
        "device_id",
        "data",
    ]
    assert table.schema.field("occurred_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("received_at").type == pa.timestamp("us", tz="UTC")
    rows = table.to_pylist()
    assert len(rows) == 5
    first = rows[0]
    assert first["id"] == "00000000-0000-0000-0000-000000000000"
    assert first["occurred_at"] == datetime(2020, 10, 12, 23, 0, 0, tzinfo=UTC)
    assert (first["platform"], first["device_id"], first["trace_key"]) == ("Android", "dev-0", "t0")
    assert first["data"] == '{"n":0,"valor":"10.10","nested":{"a":[1,2]}}'
    backend = pq.read_table(next(p for p in parts if "backend" in str(p))).to_pylist()
    assert {r["platform"] for r in backend} == {None}
    columns, counted = query(
        files, "SELECT source, type, dt, count(*) FROM events GROUP BY ALL ORDER BY 1"
    )
    assert columns[:3] == ["source", "type", "dt"]
    assert [(s, t, str(d), c) for s, t, d, c in counted] == [
        ("backend", "selfie-uploaded", "2020-10-13", 3),
        ("frontend", "click_a", "2020-10-12", 5),
    ]
    _, by_view = query(files, 'SELECT count(*) FROM backend."selfie-uploaded"')
    _, by_alias = query(files, "SELECT count(*) FROM backend.selfie_uploaded")
    assert by_view == by_alias == [(3,)]
    _, earliest = query(files, "SELECT min(occurred_at), max(received_at) FROM events")
    assert earliest == [(datetime(2020, 10, 12, 23, 0, 0, tzinfo=UTC), NOW)]
    _, json_data = query(files, "SELECT data->>'valor' FROM frontend.click_a LIMIT 1")
    assert json_data == [("10.10",)]


@pytest.mark.parametrize("seed", range(12))
async def test_redone_deliveries_leave_each_event_exactly_once(
    opened: Container, tmp_path: Path, seed: int
) -> None:
    """A member delivers a random share of each owned partition's backlog from its committed
    position, and "crashes" (does not commit) at random; an operator replays a partition from
    an earlier offset and compacts now and then; the lake ends with every event once."""
    from caudal.events.lake_compact import compact

    rng = random.Random(seed)
    files = lake(tmp_path)
    lake_sink = sink(opened, files)
    devices = [f"dev-{d}" for d in range(9)]
    log: list[tuple[str, int, CanonicalEvent]] = []
    for offset in rng.sample(range(1, 100_000), 120):  # out of order, as commits may be
        device = rng.choice(devices)
        base = event(offset, type_=rng.choice(["click_a", "click_b"]), day=rng.choice([12, 13]))
        assert base.device is not None
        log.append(
            (f"device:{device}", offset, replace(base, device={**base.device, "deviceId": device}))
        )
    by_partition: dict[int, list[tuple[str, int, CanonicalEvent]]] = {}
    for record in log:
        by_partition.setdefault(partition_of(record[0], PARTITIONS), []).append(record)
    committed = dict.fromkeys(by_partition, 0)
    while any(committed[p] < len(records) for p, records in by_partition.items()):
        owned = rng.sample(sorted(by_partition), rng.randint(1, len(by_partition)))
        taken = {p: by_partition[p][committed[p] : committed[p] + rng.randint(1, 9)] for p in owned}
        delivery = [r for p in owned for r in taken[p]]
        if not delivery:
            continue
        await lake_sink.write([r[2] for r in delivery], [(r[0], r[1], NOW) for r in delivery])
        if rng.random() < 0.6:  # committed; otherwise redelivered from the same positions
            for p in owned:
                committed[p] += len(taken[p])
        if rng.random() < 0.1:  # `caudal bus replay`: a partition back to an earlier offset
            replayed = rng.choice(sorted(by_partition))
            committed[replayed] = rng.randint(0, committed[replayed])
        if rng.random() < 0.05:
            await compact(opened, files, None)
    assert lake_ids(files) == sorted(r[2].id for r in log), f"seed {seed}"


async def test_a_file_that_is_not_parquet_is_replaced_under_the_same_name(
    opened: Container, tmp_path: Path
) -> None:
    files = lake(tmp_path)
    batch = [event(i) for i in range(6)]
    lake_sink = sink(opened, files)
    positions = [("device:dev-0", offset, NOW) for offset in range(1, 7)]
    [(directory, bus_partition)] = lake_sink.plan(batch, positions)
    name = lake_spans.Span(bus_partition, 1, 6).name
    # A file that is not Parquet (e.g. a partial upload by hand) under the name:
    partial = f"{files.root}/{directory.path()}/{name}"
    files.fs.makedirs(partial.rsplit("/", 1)[0], exist_ok=True)
    with files.fs.open(partial, "wb") as handle:
        handle.write(b"PAR1 truncated")
    await lake_sink.write(batch, positions)
    assert [Path(p).name for ps in files.parts().values() for p in ps] == [name]
    _, rows = query(files, "SELECT count(*), count(DISTINCT id) FROM events")
    assert rows == [(6, 6)]
    assert not list((tmp_path / "lake").rglob(".*tmp*"))


async def test_a_lingering_delivery_is_written_on_a_flush_request(
    opened: Container, tmp_path: Path
) -> None:
    files = lake(tmp_path)
    notifier = Notifier(opened.app_url, NOTIFY_CHANNEL)
    lake_sink = LakeSink(
        opened.database, files, LakeSettings(flush_max_seconds=3600), PARTITIONS, notifier
    )
    batch = [event(i) for i in range(3)]
    # In a worker the bus consumers keep the LISTEN connection open (it wakes all on connect).
    listening = notifier.subscribe(["events"])
    await asyncio.wait_for(listening.wait(), 20)
    writing = asyncio.create_task(lake_sink.write(batch, at(batch)))
    await asyncio.sleep(0.5)
    assert not writing.done() and lake_ids(files) == []  # small and young: it lingers

    async def lake_lag() -> int:
        return 0 if writing.done() else len(batch)

    result = await flush_now(opened.database, files, lake_lag, within_s=20)
    await writing
    await notifier.unsubscribe(listening)
    assert (result.rows, result.caught_up) == (3, True)
    assert lake_ids(files) == sorted(e.id for e in batch)


async def test_a_bus_partition_that_gave_its_share_is_written_at_once_however_fresh(
    opened: Container, tmp_path: Path
) -> None:
    """Traffic on one key: each delivery is that partition's share, far below
    `flush_max_events`; lingering would hold the stream back without making the next
    delivery any larger."""
    files = lake(tmp_path)
    lake_sink = sink(opened, files, flush_max_seconds=3600, flush_max_events=4 * PARTITIONS)
    hot = [event(3 * i) for i in range(4)]  # one device: one bus partition, 4 = its share
    await asyncio.wait_for(lake_sink.write(hot, at(hot)), 20)
    assert lake_ids(files) == sorted(e.id for e in hot)

    trickle = [event(3 * i) for i in range(4, 7)]  # 3 on that partition: short of its share
    writing = asyncio.create_task(lake_sink.write(trickle, at(trickle, first_offset=5)))
    await asyncio.sleep(0.5)
    assert not writing.done()  # small and young: it lingers
    lake_sink.hurry()
    await asyncio.wait_for(writing, 20)
    assert lake_ids(files) == sorted(e.id for e in hot + trickle)


async def test_compaction_merges_each_bus_partitions_files_and_drops_duplicate_ids(
    opened: Container, tmp_path: Path
) -> None:
    from caudal.events.lake_compact import compact
    from caudal.events.lake_files import to_table

    files = lake(tmp_path)
    lake_sink = sink(opened, files)
    chunks = [[event(i) for i in range(3 * n, 3 * n + 3)] for n in range(3)]
    for n, chunk in enumerate(chunks):  # three deliveries: three files per bus partition
        await lake_sink.write(chunk, at(chunk, 100 * n + 1))
    await lake_sink.write([event(20, day=14)], [("device:dev-2", 20, NOW)])
    # A file of an older release (no offsets in its name) duplicating three ids.
    directory = "frontend/click_a/dt=2020-10-12"
    rows = [
        (
            e.id,
            e.source,
            e.type,
            e.version,
            e.occurred_at,
            e.received_at,
            e.trace_key,
            "Android",
            "dev-0",
            "{}",
        )
        for e in (event(0), event(1), event(2))
    ]
    files.write_table(directory, "part-manual.parquet", to_table(rows))
    before = len(files.parts()[directory])
    bus_partitions = {partition_of(f"device:dev-{d}", PARTITIONS) for d in range(3)}
    assert before == 3 * len(bus_partitions) + 1
    report = await compact(opened, files, "2020-10-12")
    assert (report.partitions, report.files_before, report.rows_before, report.rows_after) == (
        1,
        before,
        12,
        9,
    )
    assert report.files_after == len(bus_partitions)  # the old file's ids were all elsewhere
    merged = sorted(Path(p).name for p in files.parts()[directory])
    offsets = {
        p: [
            100 * n + 1 + i
            for n in range(3)
            for i in range(3)
            if partition_of(f"device:dev-{i}", PARTITIONS) == p
        ]
        for p in bus_partitions
    }
    assert merged == sorted(
        lake_spans.Span(p, min(offsets[p]), max(offsets[p])).name for p in bus_partitions
    )
    assert len(files.parts()["frontend/click_a/dt=2020-10-14"]) == 1  # other dates untouched
    # Redelivered after the compaction, a range lands in the merged files: still once.
    await lake_sink.write(chunks[1], at(chunks[1], 101))
    assert sorted(Path(p).name for p in files.parts()[directory]) == merged
    _, counted = query(files, "SELECT count(*), count(DISTINCT id) FROM events")
    assert counted == [(10, 10)]


async def test_realtime_counts_once_and_serves_the_monitor_api(
    opened: Container, client: httpx.AsyncClient, auth: Auth
) -> None:
    sink = RealtimeSink(opened.database)
    batch = [event(i) for i in range(6)] + [event(100, type_="selfie-uploaded", platform=None)]
    await sink.write(batch)
    await sink.write(batch[:3])  # redelivered: not counted twice
    reader = auth("monitor:read")
    # NOW is taken at import: a window of an hour still holds it when a loaded run is slow
    rates = await client.get("/v1/monitor/rates", headers=reader, params={"since": "1h"})
    assert rates.status_code == 200, rates.text
    body = rates.json()
    minute = NOW.replace(second=0).isoformat().replace("+00:00", "Z")
    assert body["total"] == 7
    assert body["series"] == [
        {
            "minute": minute,
            "source": "backend",
            "type": "selfie-uploaded",
            "platform": None,
            "count": 1,
        },
        {
            "minute": minute,
            "source": "frontend",
            "type": "click_a",
            "platform": "Android",
            "count": 6,
        },
    ]
    only = await client.get(
        "/v1/monitor/rates", headers=reader, params={"type": "click_a", "since": "1h"}
    )
    assert only.json()["total"] == 6
    later = (NOW + timedelta(minutes=5)).isoformat()
    assert (await client.get("/v1/monitor/rates", headers=reader, params={"since": later})).json()[
        "total"
    ] == 0

    recent = await client.get(
        "/v1/monitor/events", headers=reader, params={"device": "dev-1", "limit": 1}
    )
    page = recent.json()
    assert [i["device_id"] for i in page["items"]] == ["dev-1"]
    assert page["next_cursor"] is not None
    rest = await client.get(
        "/v1/monitor/events",
        headers=reader,
        params={"device": "dev-1", "limit": 10, "cursor": page["next_cursor"]},
    )
    assert len(rest.json()["items"]) == 1 and rest.json()["next_cursor"] is None
    item = page["items"][0]
    assert set(item) == {
        "id",
        "source",
        "type",
        "version",
        "occurred_at",
        "received_at",
        "platform",
        "device_id",
        "trace_key",
        "data",
    }
    assert item["occurred_at"].endswith("Z")
    typed = await client.get(
        "/v1/monitor/events", headers=reader, params={"type": "selfie-uploaded"}
    )
    assert [i["id"] for i in typed.json()["items"]] == [batch[-1].id]
    window = await client.get(
        "/v1/monitor/events",
        headers=reader,
        params={
            "from": (NOW - timedelta(minutes=1)).isoformat(),
            "to": (NOW + timedelta(seconds=1)).isoformat(),
        },
    )
    assert len(window.json()["items"]) == 7
    empty = await client.get("/v1/monitor/events", headers=reader, params={"to": "2h"})
    assert empty.json()["items"] == []
    bad = await client.get("/v1/monitor/events", headers=reader, params={"from": "last tuesday"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "CAU-MON-TIME"
    assert (await client.get("/v1/monitor/rates", headers=auth("events:read"))).status_code == 403


async def test_realtime_stores_each_column_as_the_event_holds_it(opened: Container) -> None:
    """Every column of the rows document (sinks/rows.py), a missing device or trace key, a
    time in another offset and nested data land as the event has them."""
    events = [
        replace(
            event(1),
            occurred_at=datetime.fromisoformat("2020-10-12T20:01:14.250000-03:00"),
            data={"texto": 'ação "x"', "nested": {"a": [1, 2.5, None, True]}, "n": 10**15},
        ),
        replace(event(2, platform=None), trace_key=None),
    ]
    await RealtimeSink(opened.database).write(events)
    fields = ("id", "source", "type", "version", "occurred_at", "received_at", "trace_key")
    async with opened.database.connection() as conn:
        cur = await conn.execute(
            f"SELECT {', '.join(fields)}, platform, device_id, data FROM events.recent"
            " WHERE id = ANY(%s) ORDER BY id",
            ([e.id for e in events],),
        )
        rows = await cur.fetchall()
    device = [e.device or {} for e in events]
    assert rows == [
        (*(getattr(e, f) for f in fields), d.get("platform"), d.get("deviceId"), e.data)
        for e, d in zip(events, device, strict=True)
    ]


async def test_a_cancelled_compaction_keeps_the_lake_writers_out_until_its_merge_ends(
    opened: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`caudal lake compact` interrupted mid-merge: the merge's thread runs on, so the writers'
    lock must stay held until it ends, or a delivery merges into files being replaced."""
    from caudal.events import lake_compact
    from caudal.events.sinks.lake import LAKE_LOCK
    from tests.support.held_threads import HeldStep, advisory_granted

    files = lake(tmp_path)
    lake_sink = sink(opened, files)
    chunks = [[event(i) for i in range(3 * n, 3 * n + 3)] for n in range(2)]
    for n, chunk in enumerate(chunks):
        await lake_sink.write(chunk, at(chunk, 100 * n + 1))
    step = HeldStep(monkeypatch, lake_compact, "compact_partition")
    compacting = asyncio.create_task(lake_compact.compact(opened, files, None))
    await step.cancel_inside(compacting, "the compaction merging a partition")
    writers = advisory_granted(opened.owner_url, "objid = %s AND objsubid = 1", (LAKE_LOCK,))
    await step.release(compacting)
    assert compacting.cancelled()
    assert writers == 1  # a lake delivery would have waited for the merge
    assert lake_ids(files) == sorted(e.id for chunk in chunks for e in chunk)
