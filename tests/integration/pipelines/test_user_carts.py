"""user-carts end to end on the real FakeStore data set: outputs, rules, idempotence, gate."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import psycopg
import pyarrow.parquet as pq

from caudal.pipelines.pipeline import warehouse_path
from caudal.pipelines.warehouse.duckdb_file import DuckDBWarehouse
from caudal.platform.bootstrap import Container
from caudal.platform.settings import Settings
from tests.integration.pipelines.conftest import FakeStoreServer, run_once, with_pipelines

HEADER = "user_id,last_cart_date,top_category,total_quantity,carts,distinct_products,cart_value"
WHOLE_SET = [
    HEADER,
    "1,2020-03-02,men's clothing,27,2,4,3376.74",
    "2,2020-03-01,men's clothing,3,1,2,283.90",
    "3,2020-03-01,men's clothing,6,2,3,460.78",
    "4,2020-03-01,electronics,5,1,2,560.00",
    "8,2020-03-01,women's clothing,1,1,1,9.85",
]


def export_dir(settings: Settings, dt: str) -> Path:
    return settings.home / "exports" / "user_carts" / f"dt={dt}"


async def test_without_a_fakestore_url_the_shipped_data_set_is_read_offline(
    container: Container, settings: Settings
) -> None:
    conf = with_pipelines(settings)  # CAUDAL_PIPELINES__FAKESTORE_URL unset: no network at all
    assert conf.pipelines.fakestore_url is None
    record = await run_once(container, conf, "2024-06-30")
    assert record.status == "succeeded", record.error
    assert (export_dir(conf, "2024-06-30") / "user_carts.csv").read_text().splitlines() == WHOLE_SET


async def test_fixture_run_meets_the_expectations_and_writes_every_output(
    container: Container, settings: Settings, fakestore: FakeStoreServer
) -> None:
    conf = with_pipelines(settings, fakestore_url=fakestore.url)
    record = await run_once(container, conf, "2024-06-30")

    assert record.status == "succeeded", record.error
    assert record.rows == 5
    assert record.run_date == date(2024, 6, 30)
    assert record.error is None and record.duration_ms is not None
    folder = export_dir(conf, "2024-06-30")
    assert record.outputs == [
        f"file://{folder}/user_carts.csv",
        f"file://{folder}/user_carts.parquet",
        f"file://{folder}/_SUCCESS",
        f"duckdb://{conf.home / 'warehouse.duckdb'}#user_carts",
    ]
    csv = (folder / "user_carts.csv").read_text()
    assert csv.splitlines() == WHOLE_SET

    table = pq.read_table(folder / "user_carts.parquet").to_pylist()
    by_user = {row["user_id"]: row for row in table}
    assert (by_user[1]["last_cart_date"], by_user[1]["top_category"]) == (
        date(2020, 3, 2),
        "men's clothing",
    )
    assert (by_user[3]["last_cart_date"], by_user[3]["top_category"]) == (
        date(2020, 3, 1),
        "men's clothing",
    )
    assert (by_user[4]["last_cart_date"], by_user[4]["top_category"]) == (
        date(2020, 3, 1),
        "electronics",
    )
    assert (by_user[8]["last_cart_date"], by_user[8]["top_category"]) == (
        date(2020, 3, 1),
        "women's clothing",
    )
    assert str(by_user[1]["cart_value"]) == "3376.74"  # decimal, to the cent

    marker = json.loads((folder / "_SUCCESS").read_text())
    assert marker["rows"] == 5 and marker["run_id"] == record.id and marker["dt"] == "2024-06-30"
    for name in ("user_carts.csv", "user_carts.parquet"):
        content = (folder / name).read_bytes()
        assert marker["files"][name] == {
            "sha256": hashlib.sha256(content).hexdigest(),
            "bytes": len(content),
        }
    assert sorted(p.name for p in folder.iterdir()) == [
        "_SUCCESS",
        "user_carts.csv",
        "user_carts.parquet",
    ]

    rows = DuckDBWarehouse(warehouse_path(conf)).partition(date(2024, 6, 30))
    assert [r[:3] for r in rows] == [
        (1, date(2020, 3, 2), "men's clothing"),
        (2, date(2020, 3, 1), "men's clothing"),
        (3, date(2020, 3, 1), "men's clothing"),
        (4, date(2020, 3, 1), "electronics"),
        (8, date(2020, 3, 1), "women's clothing"),
    ]
    assert {r[7] for r in rows} == {record.id}

    bronze = conf.home / "lake" / "bronze" / "fakestore"
    for endpoint in ("carts", "products", "users"):
        kept = bronze / endpoint / "dt=2024-06-30" / f"{record.id}.json"
        assert kept.is_file(), endpoint
    carts = json.loads((bronze / "carts" / "dt=2024-06-30" / f"{record.id}.json").read_text())
    assert len(carts) == 7 and carts[0]["products"][0] == {"productId": 1, "quantity": 4}
    users = json.loads((bronze / "users" / "dt=2024-06-30" / f"{record.id}.json").read_text())
    assert users == [{"id": i} for i in range(1, 11)]  # ids only: no e-mail, no password


async def test_a_run_date_covers_the_carts_up_to_the_end_of_that_day(
    container: Container, settings: Settings, fakestore: FakeStoreServer
) -> None:
    conf = with_pipelines(settings, fakestore_url=fakestore.url)
    record = await run_once(container, conf, "2020-01-02")
    assert record.status == "succeeded", record.error
    csv = (export_dir(conf, "2020-01-02") / "user_carts.csv").read_text().splitlines()
    # Carts 2 (user 1, 2020-01-02) and 4 (user 3, 2020-01-01) only.
    assert csv == [
        HEADER,
        "1,2020-01-02,men's clothing,16,1,3,2578.70",
        "3,2020-01-01,men's clothing,4,1,1,439.80",
    ]
    before = await run_once(container, conf, "2019-12-31")
    assert before.status == "succeeded" and before.rows == 0
    assert (export_dir(conf, "2019-12-31") / "user_carts.csv").read_text().splitlines() == [HEADER]


async def test_a_rerun_of_the_same_date_replaces_it(
    container: Container, settings: Settings, fakestore: FakeStoreServer, database_url: str
) -> None:
    conf = with_pipelines(settings, fakestore_url=fakestore.url)
    first = await run_once(container, conf, "2024-06-30")
    second = await run_once(container, conf, "2024-06-30")
    assert (first.status, second.status) == ("succeeded", "succeeded")
    assert first.id != second.id
    rows = DuckDBWarehouse(warehouse_path(conf)).partition(date(2024, 6, 30))
    assert len(rows) == 5 and {r[7] for r in rows} == {second.id}
    folder = export_dir(conf, "2024-06-30")
    assert (folder / "user_carts.csv").read_text().splitlines() == WHOLE_SET
    assert json.loads((folder / "_SUCCESS").read_text())["run_id"] == second.id
    assert sorted(p.name for p in folder.iterdir()) == [
        "_SUCCESS",
        "user_carts.csv",
        "user_carts.parquet",
    ]
    with psycopg.connect(database_url) as conn:
        history = conn.execute(
            "SELECT status, rows, trigger FROM pipelines.runs ORDER BY started_at"
        ).fetchall()
    assert history == [("succeeded", 5, "cli"), ("succeeded", 5, "cli")]


async def test_top_category_ties_go_to_the_most_recent_then_alphabetical(
    container: Container, settings: Settings, serve_data: Callable[..., FakeStoreServer]
) -> None:
    def cart(ident: int, user: int, day: str, *lines: tuple[int, int]) -> dict[str, object]:
        return {
            "id": ident,
            "userId": user,
            "date": f"{day}T10:00:00.000Z",
            "products": [{"productId": p, "quantity": q} for p, q in lines],
        }

    server = serve_data(
        carts=[
            # user 1: 2 electronics (Jan) vs 2 jewelery (Feb): jewelery was added most recently.
            cart(1, 1, "2020-01-05", (9, 2)),
            cart(2, 1, "2020-02-05", (5, 2)),
            # user 2: a tie in the same cart: alphabetical (electronics < women's clothing).
            cart(3, 2, "2020-01-05", (18, 1), (9, 1)),
            # user 3: more units win whatever the date: 3 men's clothing (Jan) vs 1 jewelery.
            cart(4, 3, "2020-01-05", (1, 3)),
            cart(5, 3, "2020-03-05", (7, 1)),
        ]
    )
    conf = with_pipelines(settings, fakestore_url=server.url)
    record = await run_once(container, conf, "2020-12-31")
    assert record.status == "succeeded", record.error
    csv = (export_dir(conf, "2020-12-31") / "user_carts.csv").read_text().splitlines()
    assert [line.split(",")[:3] for line in csv[1:]] == [
        ["1", "2020-02-05", "jewelery"],
        ["2", "2020-01-05", "electronics"],
        ["3", "2020-03-05", "men's clothing"],
    ]


async def test_a_failing_quality_check_fails_the_run_and_nothing_is_exported(
    container: Container, settings: Settings, serve_data: Callable[..., FakeStoreServer]
) -> None:
    products = json.loads(
        (
            Path(__file__).parents[3] / "src/caudal/pipelines/fakestore/data/products.json"
        ).read_text()
    )
    products.append({"id": 99, "title": "x", "price": 1.5, "category": "weapons"})
    server = serve_data(
        products=products,
        carts=[
            {
                "id": 1,
                "userId": 1,
                "date": "2020-01-01T00:00:00Z",
                "products": [{"productId": 1, "quantity": 0}],
            },
            {
                "id": 2,
                "userId": None,
                "date": "2020-01-01T00:00:00Z",
                "products": [{"productId": 2, "quantity": 1}],
            },
            {
                "id": 3,
                "userId": 2,
                "date": "2020-01-01T00:00:00Z",
                "products": [{"productId": 99, "quantity": 1}],
            },
            {
                "id": 4,
                "userId": 3,
                "date": "2020-01-01T00:00:00Z",
                "products": [{"productId": 3, "quantity": 2}],
            },
        ],
    )
    conf = with_pipelines(settings, fakestore_url=server.url)
    record = await run_once(container, conf, "2020-01-01")
    assert record.status == "failed"
    assert record.rows is None and record.outputs == []
    error = record.error
    assert error is not None and error["code"] == "CAU-PIPELINES-QUALITY"
    assert "nothing was loaded or exported" in error["message"]
    failed = {c["check"]: c for c in error["checks"] if not c["passed"]}
    assert set(failed) == {"user_not_null", "category_known", "quantity_positive"}
    assert failed["user_not_null"]["samples"] == ["2"]
    assert failed["category_known"]["samples"] == ["weapons"]
    assert failed["quantity_positive"] == {
        "check": "quantity_positive",
        "rule": "every quantity is an integer > 0",
        "passed": False,
        "failures": 1,
        "samples": ["1"],
    }
    assert not (conf.home / "exports" / "user_carts").exists()
    assert not warehouse_path(conf).exists()


async def test_the_postgres_warehouse_is_replaced_per_date(
    container: Container, settings: Settings, fakestore: FakeStoreServer, database_url: str
) -> None:
    conf = with_pipelines(settings, fakestore_url=fakestore.url, warehouse="postgres")
    first = await run_once(container, conf, "2024-06-30")
    second = await run_once(container, conf, "2024-06-30")
    other = await run_once(container, conf, "2020-01-02")
    assert {first.status, second.status, other.status} == {"succeeded"}
    assert second.outputs[-1].endswith("#pipelines.user_carts")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT dt, user_id, last_cart_date, top_category, cart_value::text, run_id::text "
            "FROM pipelines.user_carts ORDER BY dt, user_id"
        ).fetchall()
    assert [r[:5] for r in rows] == [
        (date(2020, 1, 2), 1, date(2020, 1, 2), "men's clothing", "2578.70"),
        (date(2020, 1, 2), 3, date(2020, 1, 1), "men's clothing", "439.80"),
        (date(2024, 6, 30), 1, date(2020, 3, 2), "men's clothing", "3376.74"),
        (date(2024, 6, 30), 2, date(2020, 3, 1), "men's clothing", "283.90"),
        (date(2024, 6, 30), 3, date(2020, 3, 1), "men's clothing", "460.78"),
        (date(2024, 6, 30), 4, date(2020, 3, 1), "electronics", "560.00"),
        (date(2024, 6, 30), 8, date(2020, 3, 1), "women's clothing", "9.85"),
    ]
    assert {r[5] for r in rows if r[0] == date(2024, 6, 30)} == {second.id}
