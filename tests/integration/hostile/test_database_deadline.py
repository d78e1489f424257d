"""A frozen database (SIGSTOP of PostgreSQL: its connections stay open, nothing answers): every
request that needs it answers 503 + Retry-After within the request deadline, `/readyz` within a
second, `/healthz` at once; after SIGCONT the same app serves again. The test stops its own
embedded PostgreSQL (postmaster and backends) and always continues it in a `finally`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from caudal.platform.settings import Settings
from tests.integration.hostile.conftest import assert_problem
from tests.support.postgres import PostgresCluster

DEADLINE_S = 1.0
SEED = int(os.environ.get("CAUDAL_FAULT_SEED", random.randrange(2**32)))


@pytest.fixture(scope="module")
def pg_cluster() -> Iterator[PostgresCluster]:
    """This module's own server: stopping the session's would stall other tests' fixtures."""
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"database_request_deadline_seconds": DEADLINE_S})


def server_processes(cluster: PostgresCluster) -> list[int]:
    """The postmaster (first line of postmaster.pid) and every process it forked."""
    pidfile = Path(cluster._dir) / "pgdata" / "postmaster.pid"
    postmaster = int(pidfile.read_text().splitlines()[0])
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(entry.name))
    return [postmaster, *children]


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = await request
    return response, time.perf_counter() - started


async def test_a_frozen_database_gives_503_within_the_deadline(
    client: httpx.AsyncClient,
    auth: Callable[..., dict[str, str]],
    pg_cluster: PostgresCluster,
) -> None:
    rng = random.Random(SEED)
    headers = auth()
    event = {
        "eventType": "selfie-uploaded",
        "eventDateTime": "2020-10-12T21:38:43-0300",
        "version": "1.0",
        "data": {"selfield": "x"},
    }
    # Warm: pooled connections exist (the freeze must catch them open, mid-use).
    assert (await client.get("/v1/ledger/event-codes", headers=headers)).status_code == 200
    assert (await client.post("/v1/events/backend", json=event, headers=headers)).status_code == 202
    calls = [
        ("GET", "/v1/ledger/event-codes", None),
        ("GET", "/v1/quarantine", None),
        ("GET", "/clientes?nome=Maria", None),
        ("GET", "/clientes/12345678909/consultar", None),  # an autocommit read (Base C)
        ("POST", "/v1/events/backend", event),
        ("GET", "/v1/audit", None),
    ]
    rng.shuffle(calls)
    pids = server_processes(pg_cluster)
    figures: list[str] = []
    try:
        signal_all(pids, signal.SIGSTOP)
        tasks = [
            asyncio.ensure_future(timed(client.request(m, url, json=body, headers=headers)))
            for m, url, body in calls
        ]
        ready, ready_s = await timed(client.get("/readyz"))
        health, health_s = await timed(client.get("/healthz"))
        results = await asyncio.gather(*tasks)
        figures = [
            f"{url}: {r.status_code} in {s:.2f}s"
            for (_, url, _), (r, s) in zip(calls, results, strict=True)
        ]
        figures += [
            f"/readyz: {ready.status_code} in {ready_s:.2f}s",
            f"/healthz in {health_s:.3f}s",
        ]
        for (_, url, _), (response, seconds) in zip(calls, results, strict=True):
            assert_problem(response, 503, "CAU-UNAVAILABLE", None)
            assert int(response.headers["retry-after"]) > 0, url
            assert seconds < DEADLINE_S + 1.5, (url, seconds)
        assert_problem(ready, 503, "CAU-UNAVAILABLE", None)
        assert ready_s < 1.0
        assert health.status_code == 200
    except AssertionError:
        print(f"seed {SEED} (CAUDAL_FAULT_SEED); deadline {DEADLINE_S}s; " + "; ".join(figures))
        raise
    finally:
        signal_all(pids, signal.SIGCONT)
    # The same app serves again once the database answers (dropped connections are replaced).
    deadline = time.monotonic() + 30
    while True:
        again = await client.get("/v1/ledger/event-codes", headers=headers)
        if again.status_code == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert again.status_code == 200, again.text
    assert (await client.get("/readyz")).status_code == 200
    print(f"seed {SEED}; " + "; ".join(figures))
