"""`caudal up`'s worker processes: the restart backoff, the merged `/metrics`, and the
supervisor against a fake child (a few lines of Python speaking the child's side)."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from caudal.cli.serve import worker_processes
from caudal.cli.supervisor import RESTARTS, Backoff, WorkerNotRunning, WorkerProcess, roles_of
from caudal.platform import capability
from caudal.platform.capability import CapabilityBase
from caudal.platform.metrics_merge import PeerMetrics, exposition


def test_backoff_doubles_to_the_cap_and_starts_over_after_a_long_run() -> None:
    backoff = Backoff(first=1, cap=30, reset_after_s=60)
    assert [backoff.delay(0.5) for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.delay(61) == 1  # it ran a while: not a crash loop
    assert backoff.delay(3) == 2


def test_auto_is_one_worker_process_with_two_cpus() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert worker_processes("auto") == (1 if cpus >= 2 else 0)
    assert worker_processes(0) == 0
    assert worker_processes(3) == 3
    assert roles_of(1) == {"worker", "scheduler"} and roles_of(2) == {"worker"}


def test_the_api_process_keeps_the_groups_a_capability_names() -> None:
    class Customers(CapabilityBase):
        api_process_groups = ("customers.activity",)

    class Events(CapabilityBase):
        pass

    assert capability.api_process_groups([Customers(), Events()]) == {"customers.activity"}


def _registry(
    requests: float, handled: dict[str, float], lag: float, latency: float | None = None
) -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("caudal_http_requests_total", "HTTP requests.", registry=registry).inc(requests)
    counter = Counter("caudal_bus_handled_total", "Handled.", ["group"], registry=registry)
    for group, value in handled.items():
        counter.labels(group).inc(value)
    Gauge("caudal_bus_lag_messages", "Lag.", registry=registry).set(lag)
    Gauge("process_resident_memory_bytes", "RSS.", registry=registry).set(lag * 1000)
    histogram = Histogram("caudal_handle_seconds", "Handle.", registry=registry)
    if latency is not None:
        histogram.observe(latency)
    return registry


def _families(text: bytes) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    return {
        f.name: {(s.name, tuple(sorted(s.labels.items()))): s.value for s in f.samples}
        for f in text_string_to_metric_families(text.decode())
    }


def test_merged_metrics_one_family_per_name_counters_added_gauges_this_process() -> None:
    parent = _registry(5, {"customers.activity": 2}, lag=7, latency=0.2)
    child = generate_latest(_registry(0, {"lake": 3, "customers.activity": 1}, lag=9, latency=2))

    text = exposition([child], parent)

    lines = text.decode().splitlines()
    helps = [line.split()[2] for line in lines if line.startswith("# HELP")]
    assert len(helps) == len(set(helps))  # one family per name
    found = _families(text)  # and it parses
    assert found["caudal_bus_handled"] == {
        ("caudal_bus_handled_total", (("group", "customers.activity"),)): 3.0,
        ("caudal_bus_handled_total", (("group", "lake"),)): 3.0,
    }
    assert found["caudal_http_requests"][("caudal_http_requests_total", ())] == 5.0
    assert found["caudal_bus_lag_messages"] == {("caudal_bus_lag_messages", ()): 7.0}
    assert found["process_resident_memory_bytes"] == {("process_resident_memory_bytes", ()): 7e3}
    histogram = found["caudal_handle_seconds"]
    assert histogram[("caudal_handle_seconds_count", ())] == 2.0
    assert histogram[("caudal_handle_seconds_bucket", (("le", "0.25"),))] == 1.0
    assert histogram[("caudal_handle_seconds_bucket", (("le", "2.5"),))] == 2.0


def test_merged_metrics_without_peers_or_with_a_broken_one_are_this_process_alone() -> None:
    parent = _registry(5, {}, lag=1)
    assert exposition([], parent) == generate_latest(parent)
    assert _families(exposition([b"this is { not prometheus"], parent)) == _families(
        generate_latest(parent)
    )


_FAKE_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from prometheus_client import Counter
    from caudal.cli.supervisor import ChildLink

    Counter("fake_child_starts", "Starts.").inc()

    async def main() -> None:
        if sys.argv[1] == "crash":
            sys.exit(3)
        link = ChildLink.from_environment()
        stop = asyncio.Event()
        link.watch_parent(stop.set)
        await link.announce_running()
        await stop.wait()
        await link.close()

    asyncio.run(main())
    """
)


def _fake_child(index: int, mode: str) -> tuple[WorkerProcess, asyncio.Event, asyncio.Task[None]]:
    """A supervised fake child (`mode`: "run" or "crash"), running; set the event to stop it."""
    worker = WorkerProcess(
        index,
        [sys.executable, "-c", _FAKE_CHILD, mode],
        dict(os.environ),
        graceful_s=5,
        backoff=Backoff(0.05),
    )
    stop = asyncio.Event()
    return worker, stop, asyncio.create_task(worker.run(stop))


async def test_a_fake_child_announces_itself_and_serves_its_metrics() -> None:
    worker, stop, running = _fake_child(1, "run")
    await worker.wait_running(timeout_s=30)
    found = _families((await PeerMetrics([worker]).texts())[0])
    assert found["fake_child_starts"][("fake_child_starts_total", ())] == 1.0
    stop.set()
    await asyncio.wait_for(running, 10)
    assert await worker.metrics() is None  # stopped: the parent's metrics go on alone


async def test_a_crashing_child_is_restarted_with_backoff_and_counted() -> None:
    before = RESTARTS.labels("worker-7")._value.get()
    worker, stop, running = _fake_child(7, "crash")
    with pytest.raises(WorkerNotRunning, match="CAUDAL_UP__WORKER_PROCESSES=0"):
        await worker.wait_running(timeout_s=1)
    for _ in range(300):  # each start imports Python anew: seconds on a loaded machine
        if RESTARTS.labels("worker-7")._value.get() - before >= 2:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert RESTARTS.labels("worker-7")._value.get() - before >= 2  # after 0.05 s, 0.1 s ...
