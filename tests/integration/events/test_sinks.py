"""The lake and realtime sinks against a real PostgreSQL and real Parquet files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from caudal.events.lake_files import LakeFiles
from caudal.events.lake_query import query
from caudal.events.model import CanonicalEvent
from caudal.events.sinks.lake import LakeFlusher, LakeSink
from caudal.events.sinks.realtime import RealtimeSink
from caudal.platform.bootstrap import Container
from caudal.platform.settings import LakeSettings
from tests.integration.events.conftest import Sql

Auth = Callable[..., dict[str, str]]
NOW = datetime.now(UTC).replace(microsecond=0)


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


async def test_lake_writes_the_contract_columns_once_per_event(
    opened: Container, tmp_path: Path, db: Sql
) -> None:
    files = lake(tmp_path)
    sink = LakeSink(opened.database)
    flusher = LakeFlusher(
        opened.database, files, LakeSettings(flush_max_events=1000, flush_max_seconds=3600)
    )
    batch = [event(i) for i in range(5)] + [
        event(10 + i, type_="selfie-uploaded", day=13, platform=None) for i in range(3)
    ]
    await sink.write(batch)
    assert (await flusher.flush()).rows == 0  # under both thresholds: keeps buffering
    await sink.write(batch[:4])  # a redelivery
    result = await flusher.flush(force=True)
    assert (result.rows, result.files) == (8, 2)
    await sink.write(batch)  # redelivered after the flush: still nothing new
    assert (await flusher.flush(force=True)).rows == 0
    parts = sorted(Path(p) for p in files.parts().values() for p in p)
    root = tmp_path / "lake"
    assert [str(p.relative_to(root).parent) for p in parts] == [
        "backend/selfie-uploaded/dt=2020-10-13",
        "frontend/click_a/dt=2020-10-12",
    ]
    assert all(p.name.startswith("part-") and p.suffix == ".parquet" for p in parts)
    table = pq.read_table(parts[1])
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
    backend = pq.read_table(parts[0]).to_pylist()
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


async def test_flush_by_size_and_by_age(opened: Container, tmp_path: Path) -> None:
    files = lake(tmp_path)
    sink = LakeSink(opened.database)
    by_size = LakeFlusher(
        opened.database, files, LakeSettings(flush_max_events=4, flush_max_seconds=3600)
    )
    await sink.write([event(i) for i in range(10)])
    result = await by_size.flush()
    assert (result.batches, result.rows) == (2, 8)  # two full batches; 2 wait for more or age
    by_age = LakeFlusher(
        opened.database, files, LakeSettings(flush_max_events=100, flush_max_seconds=0.01)
    )
    assert (await by_age.flush()).rows == 2


async def test_an_interrupted_flush_is_redone_under_the_same_name(
    opened: Container, tmp_path: Path, db: Sql
) -> None:
    files = lake(tmp_path)
    await LakeSink(opened.database).write([event(i) for i in range(6)])
    # A flusher that died after claiming its batch and writing a partial file:
    db.execute("UPDATE events.lake_buffer SET batch = '0000000099-deadbeef'")
    partial = files.root + "/frontend/click_a/dt=2020-10-12/part-0000000099-deadbeef.parquet"
    files.fs.makedirs(partial.rsplit("/", 1)[0], exist_ok=True)
    with files.fs.open(partial, "wb") as handle:
        handle.write(b"PAR1 truncated")
    result = await LakeFlusher(opened.database, files, LakeSettings()).flush()
    assert (result.batches, result.rows) == (1, 6)
    assert [Path(p).name for ps in files.parts().values() for p in ps] == [
        "part-0000000099-deadbeef.parquet"
    ]
    _, rows = query(files, "SELECT count(*), count(DISTINCT id) FROM events")
    assert rows == [(6, 6)]
    assert not list((tmp_path / "lake").rglob(".*tmp*"))


async def test_compaction_merges_a_partition_and_drops_duplicate_ids(
    opened: Container, tmp_path: Path
) -> None:
    from caudal.events.lake_compact import compact
    from caudal.events.lake_files import to_table

    files = lake(tmp_path)
    sink = LakeSink(opened.database)
    flusher = LakeFlusher(opened.database, files, LakeSettings(flush_max_events=3))
    await sink.write([event(i) for i in range(9)])
    await sink.write([event(20, day=14)])
    await flusher.flush(force=True)
    # A copy of a file written by hand (e.g. an old replay) duplicates three ids.
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
    assert len(files.parts()[directory]) == 4
    report = await compact(opened, files, "2020-10-12")
    assert (report.partitions, report.files_before, report.rows_before, report.rows_after) == (
        1,
        4,
        12,
        9,
    )
    [merged] = files.parts()[directory]
    assert Path(merged).name.startswith("part-c")
    assert len(files.parts()["frontend/click_a/dt=2020-10-14"]) == 1  # other dates untouched
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
