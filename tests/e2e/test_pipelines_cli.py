"""`caudal fakestore serve` + `caudal pipeline run user-carts` + `caudal pipeline runs`, as a user
runs them: real subprocesses, the embedded PostgreSQL, files on disk."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, caudal, cli_env, free_port

WHOLE_SET = [
    "user_id,last_cart_date,top_category,total_quantity,carts,distinct_products,cart_value",
    "1,2020-03-02,men's clothing,27,2,4,3376.74",
    "2,2020-03-01,men's clothing,3,1,2,283.90",
    "3,2020-03-01,men's clothing,6,2,3,460.78",
    "4,2020-03-01,electronics,5,1,2,560.00",
    "8,2020-03-01,women's clothing,1,1,1,9.85",
]


@pytest.fixture
def fakestore_url(home: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "caudal", "fakestore", "serve", "--port", str(port)],
        env=cli_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/products/categories", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "fakestore serve failed"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_fakestore_serve_answers_like_fakestoreapi(fakestore_url: str) -> None:
    carts = httpx.get(f"{fakestore_url}/carts").json()
    assert len(carts) == 7 and carts[0]["userId"] == 1
    assert httpx.get(f"{fakestore_url}/carts?limit=2").json() == carts[:2]
    assert httpx.get(f"{fakestore_url}/products/3").json()["title"] == "Mens Cotton Jacket"
    assert httpx.get(f"{fakestore_url}/products/categories").json() == [
        "electronics",
        "jewelery",
        "men's clothing",
        "women's clothing",
    ]
    assert len(httpx.get(f"{fakestore_url}/users").json()) == 10


@pytest.mark.migrated_home  # not about a home's first start
def test_pipeline_run_then_runs(home: Path, fakestore_url: str) -> None:
    done = caudal(
        "pipeline",
        "run",
        "user-carts",
        "--date",
        "2020-03-02",
        "--base-url",
        fakestore_url,
        home=home,
    )
    assert done.returncode == 0, done.stderr
    assert "user-carts 2020-03-02: 5 user(s)" in done.stdout
    csv = home / "exports" / "user_carts" / "dt=2020-03-02" / "user_carts.csv"
    assert f"file://{csv}" in done.stdout
    assert csv.read_text().splitlines() == WHOLE_SET

    down = caudal(
        "pipeline",
        "run",
        "user-carts",
        "--date",
        "2020-03-03",
        "--base-url",
        "http://127.0.0.1:9",
        home=home,
        CAUDAL_PIPELINES__HTTP_RETRIES="0",
    )
    assert down.returncode == 1
    flat = " ".join(down.stderr.split())  # rich wraps to the terminal's width
    assert "GET http://127.0.0.1:9/carts failed: connection failed" in flat
    assert "`caudal fakestore serve` runs one" in flat  # what to do next

    listed = caudal("pipeline", "runs", "--wide", home=home)
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if "user-carts" in line]
    assert len(lines) == 2
    assert "2020-03-03" in lines[0] and "failed" in lines[0]  # newest first
    assert "2020-03-02" in lines[1] and "succeeded" in lines[1] and " 5 " in lines[1]


def test_pipeline_run_refuses_an_unknown_pipeline_or_date(home: Path) -> None:
    unknown = caudal("pipeline", "run", "nightly-magic", home=home)
    assert unknown.returncode == 2 and "user-carts" in unknown.stderr
    bad = caudal("pipeline", "run", "user-carts", "--date", "31/12/2020", home=home)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr


@pytest.mark.migrated_home  # not about a home's first start
def test_lake_source_end_to_end_from_the_ingestion_api(
    home: Path, fakestore_url: str, start_server: type[Server]
) -> None:
    """add_to_cart events posted to the ingestion API -> bus -> lake (Parquet) -> user-carts with
    `source: lake` -> CSV: the same analysis as the API's carts give."""
    server = start_server(
        CAUDAL_LAKE__FLUSH_MAX_SECONDS="0.5",
        CAUDAL_PIPELINES__FAKESTORE_URL=fakestore_url,
        CAUDAL_PIPELINES__SCHEDULE_ENABLED="false",
    )
    server.wait_ready()
    headers = {"Authorization": f"Bearer {server.admin_token()}"}
    items = [
        {
            "timestamp": cart["date"],
            "event_id": "add_to_cart",
            "userId": cart["userId"],
            "cartId": cart["id"],
            **line,
        }
        for cart in httpx.get(f"{fakestore_url}/carts").json()
        for line in cart["products"]
    ]
    posted = httpx.post(
        f"{server.base_url}/v1/events/frontend",
        json={"device": {"platform": "web", "deviceId": "e2e-device"}, "data": items},
        headers=headers,
    )
    assert posted.status_code == 202, posted.text

    lake = home / "lake" / "frontend" / "add_to_cart"
    deadline = time.monotonic() + 60
    while len(list(lake.glob("dt=*/part-*.parquet"))) < 3:  # 3 days of carts
        assert time.monotonic() < deadline, "the events never reached the lake"
        time.sleep(0.2)

    started = httpx.post(
        f"{server.base_url}/v1/pipelines/user-carts/runs",
        json={"date": "2020-03-02", "source": "lake"},
        headers=headers,
    )
    assert started.status_code == 202, started.text
    location = f"{server.base_url}{started.headers['location']}"
    deadline = time.monotonic() + 60
    while (run := httpx.get(location, headers=headers).json())["status"] == "running":
        assert time.monotonic() < deadline, "the run never finished"
        time.sleep(0.2)
    assert run["status"] == "succeeded", run["error"]
    assert run["source"] == "lake" and run["rows"] == 5
    csv = home / "exports" / "user_carts" / "dt=2020-03-02" / "user_carts.csv"
    assert run["outputs"][0] == f"file://{csv}"
    assert csv.read_text().splitlines() == WHOLE_SET
