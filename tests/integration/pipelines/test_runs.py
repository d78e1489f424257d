"""Run history, one run per date at a time, the daily schedule, and the HTTP routes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import httpx
import psycopg
import pytest

from caudal.pipelines.model import RunRequest
from caudal.pipelines.runner import Runner
from caudal.pipelines.scheduler import UserCartsScheduler
from caudal.platform import capability
from caudal.platform.bootstrap import Container
from caudal.platform.capability import Capability
from caudal.platform.clock import FakeClock
from caudal.platform.errors import CaudalError
from caudal.platform.settings import Settings
from tests.integration.pipelines.conftest import FakeStoreServer, with_pipelines


@pytest.fixture
def settings(settings: Settings, fakestore: FakeStoreServer) -> Settings:
    """The test settings, pointed at a real local FakeStore API."""
    return with_pipelines(settings, fakestore_url=fakestore.url)


def request(day: str, trigger: str = "cli") -> RunRequest:
    return RunRequest(
        run_date=date.fromisoformat(day),
        source="fakestore",
        trigger=trigger,  # type: ignore[arg-type]
        requested_by="tester",
    )


def history(database_url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT run_date, trigger, status FROM pipelines.runs ORDER BY started_at"
        ).fetchall()


async def test_two_schedulers_run_a_date_once(
    container: Container, settings: Settings, database_url: str
) -> None:
    first = UserCartsScheduler(Runner(settings, container.app_url), "0 2 * * *", "fakestore")
    second = UserCartsScheduler(Runner(settings, container.app_url), "0 2 * * *", "fakestore")
    fire = datetime(2024, 7, 1, 2, 0, tzinfo=UTC)
    results = await asyncio.gather(first.fire(fire), second.fire(fire))
    ran = [r for r in results if r is not None]
    assert len(ran) == 1 and ran[0].status == "succeeded"
    assert ran[0].run_date == date(2024, 6, 30)  # the day before the fire time
    assert await first.fire(fire) is None  # later: already run
    assert history(database_url) == [(date(2024, 6, 30), "schedule", "succeeded")]


async def test_a_run_of_a_date_in_progress_refuses_another(
    container: Container, settings: Settings
) -> None:
    runner = Runner(settings, container.app_url)
    claim = await runner.claim(request("2024-06-30"))
    assert claim is not None
    with pytest.raises(CaudalError) as caught:
        await Runner(settings, container.app_url).claim(request("2024-06-30"))
    assert caught.value.code == "CAU-PIPELINES-RUN-IN-PROGRESS" and caught.value.status == 409
    other_day = await runner.run(request("2024-06-29"))  # another date is free
    assert other_day is not None and other_day.status == "succeeded"
    done = await runner.execute(claim)
    assert done.status == "succeeded"
    again = await runner.run(request("2024-06-30"))
    assert again is not None and again.status == "succeeded"


async def test_a_run_left_running_by_a_dead_process_is_abandoned(
    container: Container, settings: Settings, database_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO pipelines.runs (id, pipeline, run_date, trigger, source, status, "
            "requested_by) VALUES (%s, 'user-carts', '2024-06-30', 'schedule', 'fakestore', "
            "'running', 'scheduler')",
            (uuid.uuid4(),),
        )
    record = await Runner(settings, container.app_url).run(request("2024-06-30", "schedule"))
    assert record is not None and record.status == "succeeded"
    assert history(database_url) == [
        (date(2024, 6, 30), "schedule", "abandoned"),
        (date(2024, 6, 30), "schedule", "succeeded"),
    ]


async def test_the_scheduler_service_runs_at_the_cron_time(
    container: Container, settings: Settings, database_url: str
) -> None:
    # A clock set 0.3 s before 02:00 UTC on 2024-07-01.
    clock = FakeClock(datetime(2024, 7, 1, 1, 59, 59, 700_000, tzinfo=UTC))
    scheduler = UserCartsScheduler(
        Runner(settings, container.app_url),
        "0 2 * * *",
        "fakestore",
        clock=clock,
        max_sleep_s=0.05,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    await asyncio.sleep(0)  # armed for 02:00
    clock.advance(0.3)
    for _ in range(300):
        if history(database_url) and history(database_url)[0][2] != "running":
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert history(database_url) == [(date(2024, 6, 30), "schedule", "succeeded")]


async def test_the_scheduler_is_a_service_of_caudal_up(
    container: Container, client: httpx.AsyncClient, capabilities: list[Capability[object]]
) -> None:
    # `client` has started the app's capabilities, as `caudal up` does.
    conf = container.settings.pipelines.model_copy(update={"schedule_enabled": True})
    container.settings = container.settings.model_copy(update={"pipelines": conf})
    names = [
        (s.name, s.role)
        for s in capability.services(capabilities, container.bus, frozenset({"scheduler"}))
    ]
    assert ("pipelines.user-carts", "scheduler") in names
    conf = conf.model_copy(update={"schedule_enabled": False})
    container.settings = container.settings.model_copy(update={"pipelines": conf})
    names = [
        (s.name, s.role)
        for s in capability.services(capabilities, container.bus, frozenset({"scheduler"}))
    ]
    assert ("pipelines.user-carts", "scheduler") not in names


async def wait_finished(
    client: httpx.AsyncClient, location: str, headers: dict[str, str]
) -> dict[str, object]:
    for _ in range(200):
        body: dict[str, object] = (await client.get(location, headers=headers)).json()
        if body["status"] != "running":
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("the run never finished")


async def test_http_trigger_then_history(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    started = await client.post(
        "/v1/pipelines/user-carts/runs",
        json={"date": "2024-06-30"},
        headers=auth("pipelines:run", subject="ana"),
    )
    assert started.status_code == 202
    run = started.json()
    assert started.headers["location"] == f"/v1/pipelines/runs/{run['id']}"
    assert {k: run[k] for k in ("pipeline", "run_date", "trigger", "source", "requested_by")} == {
        "pipeline": "user-carts",
        "run_date": "2024-06-30",
        "trigger": "api",
        "source": "fakestore",
        "requested_by": "ana",
    }
    reader = auth("pipelines:read")
    finished = await wait_finished(client, started.headers["location"], reader)
    assert finished["status"] == "succeeded"
    assert finished["rows"] == 5 and finished["error"] is None
    outputs = finished["outputs"]
    assert isinstance(outputs, list) and outputs[0].endswith(
        "/user_carts/dt=2024-06-30/user_carts.csv"
    )
    listed = await client.get("/v1/pipelines/runs", headers=reader)
    assert listed.status_code == 200
    assert listed.json() == {"runs": [finished]}
    failed = await client.get("/v1/pipelines/runs?status=failed", headers=reader)
    assert failed.json() == {"runs": []}


async def test_http_routes_need_their_scopes_and_validate(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    denied = await client.get("/v1/pipelines/runs", headers=auth("pipelines:run"))
    assert denied.status_code == 403 and denied.json()["required_scope"] == "pipelines:read"
    denied = await client.post("/v1/pipelines/user-carts/runs", headers=auth("pipelines:read"))
    assert denied.status_code == 403 and denied.json()["required_scope"] == "pipelines:run"
    assert (await client.get("/v1/pipelines/runs")).status_code == 401
    bad = await client.post(
        "/v1/pipelines/user-carts/runs", json={"date": "30/06/2024"}, headers=auth()
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "CAU-PIPELINES-BAD-DATE" and bad.json()["field"] == "date"
    missing = await client.get(f"/v1/pipelines/runs/{uuid.uuid4()}", headers=auth())
    assert missing.status_code == 404 and missing.json()["code"] == "CAU-PIPELINES-RUN-NOT-FOUND"
    junk = await client.get("/v1/pipelines/runs/not-a-uuid", headers=auth())
    assert junk.status_code == 404


async def test_http_trigger_conflicts_with_a_run_in_progress(
    client: httpx.AsyncClient,
    auth: Callable[..., dict[str, str]],
    container: Container,
    settings: Settings,
) -> None:
    claim = await Runner(settings, container.app_url).claim(request("2024-06-30"))
    assert claim is not None
    try:
        busy = await client.post(
            "/v1/pipelines/user-carts/runs", json={"date": "2024-06-30"}, headers=auth()
        )
        assert busy.status_code == 409
        assert busy.json()["code"] == "CAU-PIPELINES-RUN-IN-PROGRESS"
    finally:
        await claim.conn.close()


def test_yesterday_and_today_are_accepted_dates() -> None:
    from caudal.pipelines.model import parse_run_date, today_utc

    assert parse_run_date("yesterday") == today_utc() - timedelta(days=1)
    assert parse_run_date(None) == today_utc()
