"""The `lake` source on Parquet files in the exact layout the ingest side writes (the contract):
`<lake>/frontend/add_to_cart/dt=YYYY-MM-DD/part-*.parquet`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from caudal.pipelines.fakestore.server import fixture_dir
from caudal.platform.bootstrap import Container
from caudal.platform.settings import Settings
from tests.integration.pipelines.conftest import FakeStoreServer, run_once, with_pipelines
from tests.integration.pipelines.test_user_carts import HEADER, WHOLE_SET, export_dir

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("type", pa.string()),
        ("version", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("trace_key", pa.string()),
        ("platform", pa.string()),
        ("device_id", pa.string()),
        ("data", pa.string()),
    ]
)


def event(when: datetime, data: dict[str, object], ident: str | None = None) -> dict[str, object]:
    return {
        "id": ident or str(uuid.uuid4()),
        "source": "frontend",
        "type": "add_to_cart",
        "version": "1.0",
        "occurred_at": when,
        "received_at": when,
        "trace_key": uuid.uuid4().hex,
        "platform": "web",
        "device_id": "d-1",
        "data": json.dumps(data),
    }


def write_part(lake: Path, dt: str, name: str, events: list[dict[str, object]]) -> None:
    folder = lake / "frontend" / "add_to_cart" / f"dt={dt}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(events, schema=SCHEMA), folder / f"part-{name}.parquet")


def fixture_events() -> dict[str, list[dict[str, object]]]:
    """The fixture's carts as add_to_cart events, one per line, partitioned by day."""
    by_day: dict[str, list[dict[str, object]]] = {}
    for cart in json.loads((fixture_dir() / "carts.json").read_text()):
        when = datetime.fromisoformat(cart["date"].replace("Z", "+00:00")).astimezone(UTC)
        for line in cart["products"]:
            data = {"userId": cart["userId"], "cartId": cart["id"], **line}
            by_day.setdefault(when.date().isoformat(), []).append(event(when, data))
    return by_day


async def test_lake_events_give_the_same_analysis_as_the_api(
    container: Container, settings: Settings, fakestore: FakeStoreServer
) -> None:
    conf = with_pipelines(settings, fakestore_url=fakestore.url)
    lake = conf.home / "lake"
    for day, events in fixture_events().items():
        write_part(lake, day, "a", events)
    # A redelivered event (same id, in a later batch file) counts once.
    first = fixture_events()["2020-03-02"][0]
    write_part(lake, "2020-03-02", "b", [{**first, "id": _id_of(lake, "2020-03-02")}])
    # An event after the run date is not covered.
    late = datetime(2020, 3, 3, 9, 0, tzinfo=UTC)
    write_part(lake, "2020-03-03", "a", [event(late, {"userId": 9, "productId": 1, "quantity": 1})])

    record = await run_once(container, conf, "2020-03-02", source="lake")
    assert record.status == "succeeded", record.error
    assert record.source == "lake"
    csv = (export_dir(conf, "2020-03-02") / "user_carts.csv").read_text().splitlines()
    assert csv == WHOLE_SET


async def test_events_without_a_cart_id_form_one_cart_per_user_and_day_and_use_their_price(
    container: Container, settings: Settings, fakestore: FakeStoreServer
) -> None:
    conf = with_pipelines(settings, fakestore_url=fakestore.url)
    lake = conf.home / "lake"
    morning = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    evening = datetime(2024, 5, 1, 21, 0, tzinfo=UTC)
    write_part(
        lake,
        "2024-05-01",
        "x",
        [
            event(morning, {"userId": 42, "productId": 9, "quantity": 2, "price": 10.5}),
            event(evening, {"userId": 42, "productId": 5, "quantity": 2}),
            event(
                datetime(2024, 5, 2, 0, 30, tzinfo=UTC),
                {"userId": 42, "productId": 9, "quantity": 1},
            ),
        ],
    )
    record = await run_once(container, conf, "2024-05-01", source="lake")
    assert record.status == "succeeded", record.error
    csv = (export_dir(conf, "2024-05-01") / "user_carts.csv").read_text().splitlines()
    # A 2-2 tie: jewelery was added later that day. 2 x 10.50 (the event's price) + 2 x 695.00.
    assert csv == [HEADER, "42,2024-05-01,jewelery,4,1,2,1411.00"]


async def test_an_empty_lake_gives_an_empty_export(
    container: Container, settings: Settings, fakestore: FakeStoreServer
) -> None:
    conf = with_pipelines(settings, fakestore_url=fakestore.url)
    record = await run_once(container, conf, "2024-05-01", source="lake")
    assert record.status == "succeeded" and record.rows == 0
    assert (export_dir(conf, "2024-05-01") / "user_carts.csv").read_text() == HEADER + "\n"


def _id_of(lake: Path, dt: str) -> str:
    table = pq.read_table(lake / "frontend" / "add_to_cart" / f"dt={dt}" / "part-a.parquet")
    return str(table.column("id")[0].as_py())


async def test_object_storage_urls_for_the_lake_and_the_bucket(
    container: Container, settings: Settings, fakestore: FakeStoreServer
) -> None:
    """Through fsspec, not the local disk: `memory://` stands in for `s3://` / `gs://`."""
    import fsspec

    memory = fsspec.filesystem("memory")
    root = f"/t-{uuid.uuid4().hex[:8]}"
    when = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    table = pa.Table.from_pylist(
        [event(when, {"userId": 7, "productId": 18, "quantity": 3})], schema=SCHEMA
    )
    with memory.open(f"{root}/lake/frontend/add_to_cart/dt=2024-05-01/part-1.parquet", "wb") as f:
        pq.write_table(table, f)
    conf = with_pipelines(settings, fakestore_url=fakestore.url, bucket_url=f"memory://{root}/b")
    conf = conf.model_copy(
        update={"lake": conf.lake.model_copy(update={"url": f"memory://{root}/lake"})}
    )
    record = await run_once(container, conf, "2024-05-01", source="lake")
    assert record.status == "succeeded", record.error
    folder = f"{root}/b/user_carts/dt=2024-05-01"
    assert record.outputs[:3] == [
        f"memory://{folder}/user_carts.csv",
        f"memory://{folder}/user_carts.parquet",
        f"memory://{folder}/_SUCCESS",
    ]
    assert memory.cat(f"{folder}/user_carts.csv").decode().splitlines() == [
        HEADER,
        "7,2024-05-01,women's clothing,3,1,1,29.55",
    ]
    assert json.loads(memory.cat(f"{folder}/_SUCCESS"))["rows"] == 1
    assert memory.exists(f"{root}/lake/bronze/fakestore/products/dt=2024-05-01/{record.id}.json")
    memory.rm(root, recursive=True)


async def test_an_unreadable_lake_file_fails_the_run_with_a_clear_error(
    container: Container, settings: Settings, fakestore: FakeStoreServer
) -> None:
    conf = with_pipelines(settings, fakestore_url=fakestore.url)
    folder = conf.home / "lake" / "frontend" / "add_to_cart" / "dt=2024-05-01"
    folder.mkdir(parents=True)
    (folder / "part-1.parquet").write_bytes(b"not parquet at all")
    record = await run_once(container, conf, "2024-05-01", source="lake")
    assert record.status == "failed" and record.error is not None
    assert record.error["code"] == "CAU-PIPELINES-SOURCE-MALFORMED"
    assert record.error["message"].startswith(
        f"the lake's add_to_cart files ({conf.home}/lake/frontend/add_to_cart/dt=*/part-*.parquet)"
        " cannot be read: "
    )
