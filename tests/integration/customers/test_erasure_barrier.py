"""The erasure barrier (events/erasure_barrier.py): once an erasure has committed, no sink writes
a copy of an event received before it that holds the erased token, whatever it had fetched,
held, buffered or gets redelivered.

Each race is injected deterministically with real components: a realtime statement blocked
mid-write, a lake delivery lingering in memory or blocked inside its file write, a Base C batch
fetched before the erasure, and a bus delivery (PostgreSQL and NATS JetStream) that crashes
after the erasure and is delivered again by a restarted consumer.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from typer.testing import CliRunner

from caudal.bus.nats import NatsBus
from caudal.cli.main import app
from caudal.customers.base_c.sink import CustomersActivitySink
from caudal.customers.context import customers_of
from caudal.customers.cpf import format_cpf, with_check_digits
from caudal.customers.events import ERASED, customer_event
from caudal.customers.reapply import Erasure, reapply
from caudal.events import runtime
from caudal.events.erasure_barrier_postgres import LOCK
from caudal.events.model import CanonicalEvent
from caudal.events.retention import EventsRetention
from caudal.events.router.consumer import SinkConsumer
from caudal.events.router.table import Routes
from caudal.events.sinks.lake import LAKE_LOCK, LakeSink
from caudal.events.sinks.realtime import RealtimeSink
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import Message
from caudal.platform.bus.port import Bus
from caudal.platform.db.pool import Database
from tests.integration.customers.conftest import CPF_1
from tests.integration.customers.test_erasure import token_event
from tests.integration.events.conftest import SEED_SELFIE
from tests.support.bus import consuming, fast_bus_settings, make_bus, until
from tests.support.held_threads import HeldStep, advisory_granted
from tests.support.nats import NatsServer, nats_server

__all__ = ["nats_server"]
SINKS = {"lake", "realtime", "customers.activity", "webhook"}
NOTHING = {"recent": 0, "base_c.events": 0, "base_c.activity": 0}


def batch(gone: str, kept: str, received: datetime) -> list[CanonicalEvent]:
    """The erased customer's events first, a kept customer's last (one bus key: in order)."""
    return [token_event("card-purchase", t, n, received) for t in (gone, kept) for n in range(2)]


async def erase(container: Container, token: str) -> None:
    """What the router does with `customers.erased`: the customers.activity sink erases."""
    message = customer_event(ERASED, str(uuid.uuid4()), bytes.fromhex(token), None)
    await CustomersActivitySink(customers_of(container)).write(
        [CanonicalEvent.from_dict(message.payload)]
    )


def holding(owner_url: str, token: str) -> dict[str, int]:
    queries = {
        "recent": "SELECT count(*) FROM events.recent WHERE position(%(t)s IN data::text) > 0",
        "base_c.events": "SELECT count(*) FROM base_c.events"
        " WHERE cpf_index = decode(%(t)s, 'hex')",
        "base_c.activity": "SELECT count(*) FROM base_c.activity"
        " WHERE cpf_index = decode(%(t)s, 'hex')",
    }
    with psycopg.connect(owner_url) as conn:
        return {
            name: int(conn.execute(sql, {"t": token}).fetchone()[0])  # type: ignore[index]
            for name, sql in queries.items()
        }


def lake_rows(container: Container, token: str) -> int:
    files = runtime.lake_files(container)
    paths = [p for ps in files.parts().values() for p in ps]
    if not paths:
        return 0
    return sum(token in d for d in files.read(paths).column("data").to_pylist())


async def waiting(owner_url: str, condition: str, params: tuple[Any, ...] = ()) -> None:
    """Until a backend waits for the lock `condition` names (pg_locks, not granted)."""

    def count() -> int:
        with psycopg.connect(owner_url) as conn:
            sql = f"SELECT count(*) FROM pg_locks WHERE NOT granted AND {condition}"
            return int(conn.execute(sql, params).fetchone()[0])  # type: ignore[index]

    for _ in range(500):
        if await asyncio.to_thread(count):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"nobody waits for {condition} {params}")


def tokens() -> tuple[str, str]:
    return secrets.token_hex(32), secrets.token_hex(32)


async def test_an_erasure_waits_for_a_realtime_write_in_flight_and_deletes_what_it_wrote(
    client: httpx.AsyncClient, container: Container
) -> None:
    gone, kept = tokens()
    events = batch(gone, kept, datetime.now(UTC) - timedelta(seconds=1))
    blocker = psycopg.connect(container.owner_url)  # holds the first event's id, uncommitted
    blocker.execute(
        "INSERT INTO events.recent (id, source, type, version, occurred_at, received_at, data)"
        " VALUES (%s, 'backend', 'x', '1', now(), now(), '{}')",
        (events[0].id,),
    )
    try:
        writing = asyncio.create_task(RealtimeSink(container.database).write(events))
        # the write passed its gate (shared barrier lock) and waits on the blocker's row
        await waiting(container.owner_url, "locktype = 'transactionid'")
        erasing = asyncio.create_task(erase(container, gone))
        await waiting(
            container.owner_url,
            "locktype = 'advisory' AND objid = %s AND mode = %s",
            (LOCK, "ExclusiveLock"),
        )
        assert not writing.done() and not erasing.done()
        blocker.rollback()  # the write commits, then the erasure runs
        await asyncio.wait_for(writing, 20)
        await asyncio.wait_for(erasing, 20)
    finally:
        blocker.close()
    assert holding(container.owner_url, gone)["recent"] == 0
    assert holding(container.owner_url, kept)["recent"] == 2


async def test_a_realtime_batch_fetched_before_the_erasure_and_written_after_it_drops_its_events(
    client: httpx.AsyncClient, container: Container
) -> None:
    gone, kept = tokens()
    events = batch(gone, kept, datetime.now(UTC) - timedelta(seconds=1))  # fetched, held
    await erase(container, gone)
    await RealtimeSink(container.database).write(events)
    assert holding(container.owner_url, gone)["recent"] == 0
    assert holding(container.owner_url, kept)["recent"] == 2
    # an event received well after the erasure is new data: the barrier lets it through
    later = token_event("card-purchase", gone, 7, datetime.now(UTC) + timedelta(minutes=10))
    await RealtimeSink(container.database).write([later])
    assert holding(container.owner_url, gone)["recent"] == 1


def lake_sink(container: Container, **lake: object) -> LakeSink:
    return LakeSink(
        container.database,
        runtime.lake_files(container),
        container.settings.lake.model_copy(update=lake),
        container.settings.bus.partitions,
    )


def positions(events: Sequence[CanonicalEvent]) -> list[tuple[str, int, datetime]]:
    return [("k", i, datetime.now(UTC)) for i, _ in enumerate(events)]


async def test_a_lake_delivery_lingering_in_memory_across_the_erasure_writes_none_of_its_events(
    client: httpx.AsyncClient, container: Container
) -> None:
    gone, kept = tokens()
    events = batch(gone, kept, datetime.now(UTC) - timedelta(seconds=1))
    sink = lake_sink(container, flush_max_seconds=600, flush_max_events=10_000)
    writing = asyncio.create_task(sink.write(events, positions(events)))
    await asyncio.sleep(0.2)
    assert not writing.done()  # lingering: the batch is only in this process's memory
    await erase(container, gone)  # its file scan finds nothing to rewrite yet
    sink.hurry()
    await asyncio.wait_for(writing, 20)
    assert lake_rows(container, gone) == 0 and lake_rows(container, kept) == 2


async def test_the_lake_scan_waits_for_a_file_write_in_flight_and_rewrites_it(
    client: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone, kept = tokens()
    events = batch(gone, kept, datetime.now(UTC) - timedelta(seconds=1))
    sink = lake_sink(container, flush_max_events=1)  # written at once
    # held past the barrier's check, before the file exists
    step = HeldStep(monkeypatch, sink, "_write_files")
    writing = asyncio.create_task(sink.write(events, positions(events)))
    await until(step.entered.is_set, what="the lake delivery in its file write")
    erasing = asyncio.create_task(erase(container, gone))
    # the database part commits; the file scan waits for the writer's partition lock
    await waiting(
        container.owner_url,
        "locktype = 'advisory' AND classid = %s AND objsubid = 2",
        (LAKE_LOCK,),
    )
    assert holding(container.owner_url, gone)["recent"] == 0 and not erasing.done()
    step.go.set()
    await asyncio.wait_for(writing, 20)
    await asyncio.wait_for(erasing, 20)
    assert lake_rows(container, gone) == 0 and lake_rows(container, kept) == 2


async def test_a_base_c_batch_fetched_before_the_erasure_and_written_after_it_projects_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    gone, kept = tokens()
    events = batch(gone, kept, datetime.now(UTC) - timedelta(seconds=1))
    await erase(container, gone)
    await CustomersActivitySink(customers_of(container)).write(events)
    assert holding(container.owner_url, gone) == NOTHING
    kept_rows = holding(container.owner_url, kept)
    assert kept_rows["base_c.events"] == 2 and kept_rows["base_c.activity"] == 1


class Delivered:
    """A real sink, whose deliveries are seen: before `erased` is set, each one waits for the
    erasure to commit and then fails before the bus records it (a worker dying before its ack),
    so the bus must deliver the batch again, after the erasure."""

    def __init__(self, sink: Any, erased: asyncio.Event | None = None) -> None:
        self.sink = sink
        self.name = sink.name
        self.batch_size = getattr(sink, "batch_size", 100)
        self.erased = erased
        self.tokens: list[str] = []  # the CPF tokens it was handed

    async def write(self, events: Sequence[CanonicalEvent]) -> None:
        self.tokens.extend(str(e.data.get("cpf")) for e in events)
        if self.erased is not None:
            await self.erased.wait()
            raise RuntimeError("crash before ack")
        await self.sink.write(events)


async def redelivered_after_erasure(container: Container, bus: Bus) -> tuple[str, list[str]]:
    """Publish an erased customer's and a kept one's events; every delivery of a first worker
    fails after the erasure commits; a restarted worker gets them again from the bus and writes
    with the real sinks. (the erased token, the tokens the restarted realtime sink was handed)"""
    gone, kept = tokens()
    events = batch(gone, kept, datetime.now(UTC) - timedelta(seconds=1))
    await bus.publish([e.to_message("same-key") for e in events])
    routes = Routes(None, SINKS)
    customers = customers_of(container)
    erased = asyncio.Event()
    first = [
        Delivered(RealtimeSink(container.database), erased),
        Delivered(CustomersActivitySink(customers), erased),
    ]
    async with consuming(bus, *(SinkConsumer(d, routes) for d in first)):
        await until(lambda: all(gone in d.tokens for d in first), what="first deliveries")
        await erase(container, gone)
        erased.set()
    restarted = [
        Delivered(RealtimeSink(container.database)),
        Delivered(CustomersActivitySink(customers)),
    ]
    async with consuming(bus, *(SinkConsumer(d, routes) for d in restarted)):
        await until(
            lambda: (
                holding(container.owner_url, kept)
                == {"recent": 2, "base_c.events": 2, "base_c.activity": 1}
            ),
            seconds=30,
            what="the kept customer's events, after the erased one's (one key: in order)",
        )
    return gone, restarted[0].tokens


async def test_a_postgres_bus_redelivery_after_the_erasure_writes_nothing_of_it(
    client: httpx.AsyncClient, container: Container
) -> None:
    bus = make_bus(container, max_attempts=1000)  # failures are retried, never dead-lettered
    gone, _ = await redelivered_after_erasure(container, bus)
    # its bus rows were deleted: whether it was delivered again or not, nothing is written
    assert holding(container.owner_url, gone) == NOTHING


async def test_a_nats_redelivery_after_the_erasure_writes_nothing_of_it(
    client: httpx.AsyncClient, container: Container, nats_server: NatsServer
) -> None:
    database = Database(container.app_url, min_size=2, max_size=8)
    await database.open()
    settings = fast_bus_settings(
        backend="nats",
        nats_url=nats_server.url,
        nats_namespace=f"t{uuid.uuid4().hex[:10]}",
        max_attempts=1000,
    )
    bus = NatsBus(database, settings)
    try:
        gone, handed = await redelivered_after_erasure(container, bus)
        js = await bus.js()
        stored = (await js.stream_info(bus.names.stream)).state.messages
    finally:
        await bus.destroy()
        await bus.close()
        await database.close()
    assert stored >= 4  # JetStream still holds the erased customer's messages
    assert handed.count(gone) == 2  # and delivered them again to the restarted worker
    assert holding(container.owner_url, gone) == NOTHING


@pytest.mark.parametrize("offset", [timedelta(seconds=-1), timedelta(minutes=-30)])
async def test_an_event_received_before_the_erasure_is_held_back_however_old(
    client: httpx.AsyncClient, container: Container, offset: timedelta
) -> None:
    gone, _ = tokens()
    old = token_event("card-purchase", gone, 1, datetime.now(UTC) + offset)  # a replay
    await erase(container, gone)
    await RealtimeSink(container.database).write([old])
    assert holding(container.owner_url, gone)["recent"] == 0


async def quarantined(
    client: httpx.AsyncClient, auth: Any, container: Container, *tokens: str
) -> dict[str, int]:
    """Post an invalid event holding each token; how many entries the quarantine kept of each."""
    for token in tokens:
        bad = {**SEED_SELFIE, "data": {"selfield": 42, "ref": token}}
        posted = await client.post("/v1/events/backend", json=bad, headers=auth("events:write"))
        assert posted.status_code == 422
    with psycopg.connect(container.owner_url) as conn:
        return dict(
            conn.execute(
                "SELECT t, count(q.id) FROM unnest(%s::text[]) t"
                " LEFT JOIN events.quarantine q ON t = ANY (q.tokens) GROUP BY t",
                (list(tokens),),
            ).fetchall()
        )


async def test_an_invalid_event_quarantined_around_the_erasure_is_not_kept(
    client: httpx.AsyncClient, auth: Any, container: Container
) -> None:
    gone, kept = tokens()
    await erase(container, gone)
    assert await quarantined(client, auth, container, gone, kept) == {gone: 0, kept: 1}


def a_cpf() -> str:
    """A CPF no other test writes."""
    return with_check_digits(str(random.randrange(10**8, 10**9)))


def quarantine_ids(owner_url: str) -> set[str]:
    with psycopg.connect(owner_url) as conn:
        return {str(r[0]) for r in conn.execute("SELECT id FROM events.quarantine").fetchall()}


async def test_an_erasure_deletes_the_quarantined_entries_holding_the_cpf_in_clear(
    client: httpx.AsyncClient, auth: Any, container: Container
) -> None:
    """An invalid event may hold a CPF the intake never tokenized (an undeclared field, free
    text): the quarantine seals it, and keeps beside it the token of every valid CPF its payload
    holds (bare, formatted, as a number, inside text), never the CPF; the erasure deletes by it."""
    gone, kept = a_cpf(), a_cpf()
    forms: list[Any] = [gone, format_cpf(gone), int(gone), f"cliente {format_cpf(gone)} ligou"]
    ids = {}
    for n, value in enumerate([*forms, format_cpf(kept)]):
        bad = {**SEED_SELFIE, "data": {"selfield": 42, "ref": value}}
        posted = await client.post("/v1/events/backend", json=bad, headers=auth("events:write"))
        assert posted.status_code == 422
        ids[n] = posted.json()["rejected"][0]["quarantine_id"]
    assert quarantine_ids(container.owner_url) == set(ids.values())
    with psycopg.connect(container.owner_url) as conn:
        stored = conn.execute("SELECT q::text FROM events.quarantine q").fetchall()
    assert not any(
        cpf in text.replace(".", "").replace("-", "") for (text,) in stored for cpf in (gone, kept)
    )  # no CPF in clear, in any column
    vault = customers_of(container).vault
    await erase(container, vault.cpf_index(gone).hex())
    assert quarantine_ids(container.owner_url) == {ids[4]}
    # and the barrier knows it by that token: one received within the margin is not kept
    bad = {**SEED_SELFIE, "data": {"selfield": 42, "ref": format_cpf(gone)}}
    posted = await client.post("/v1/events/backend", json=bad, headers=auth("events:write"))
    assert posted.status_code == 422
    assert quarantine_ids(container.owner_url) == {ids[4]}


@pytest.mark.parametrize("indexer", ["worker", "cli"])
async def test_an_erasure_finds_the_entries_quarantined_before_cpfs_were_indexed(
    client: httpx.AsyncClient, auth: Any, container: Container, cli_env: None, indexer: str
) -> None:
    """Entries sealed by an older release hold no CPF token: the events retention worker (or
    `caudal quarantine index-cpfs`) opens each, while its day key exists, and adds the tokens of
    the CPFs it holds, once."""
    gone = a_cpf()
    vault = customers_of(container).vault
    sealer = runtime.get(container).sealer
    entries = [str(uuid.uuid4()) for _ in range(2)]
    with psycopg.connect(container.owner_url) as conn:
        for entry, ref in zip(entries, (format_cpf(gone), "nada"), strict=True):
            sealed = sealer.seal(entry, orjson.dumps({"data": {"ref": ref}}))
            conn.execute(  # as an older release stored it: no CPF token, not indexed
                "INSERT INTO events.quarantine (id, received_at, source, type, version, reason,"
                " code, message, sealed, wrapped_key, key_epoch, cpf_indexed) VALUES (%s,"
                " now() - interval '1 hour', 'backend', 'x', '1.0', 'schema', 'CAU-EVT-SCHEMA',"
                " 'invalid', %s, %s, %s, false)",
                (entry, sealed.sealed, sealed.wrapped_key, sealed.key_epoch),
            )
    retention = EventsRetention(container.database, container.settings, sealer)
    if indexer == "cli":
        ran = await asyncio.to_thread(CliRunner().invoke, app, ["quarantine", "index-cpfs"])
        assert ran.exit_code == 0 and "2 entries indexed" in ran.output, ran.output
    else:
        assert (await retention.purge())["quarantine_cpfs_indexed"] == 2
    assert (await retention.purge())["quarantine_cpfs_indexed"] == 0
    await erase(container, vault.cpf_index(gone).hex())
    assert quarantine_ids(container.owner_url) == {entries[1]}


async def test_after_a_mass_erasure_each_write_looks_up_its_own_tokens_and_still_drops_them(
    client: httpx.AsyncClient, auth: Any, container: Container
) -> None:
    """Beyond 256 tokens erased within a batch's window the gate answers "many" and each writer
    asks again by its batch's tokens (realtime, quarantine, Base C, lake)."""
    gone, kept = tokens()
    received = datetime.now(UTC) - timedelta(seconds=1)
    events = batch(gone, kept, received)
    with psycopg.connect(container.owner_url) as conn:
        conn.execute(
            "INSERT INTO events.erased_tokens (token, at)"
            " SELECT md5(random()::text) || md5(random()::text), clock_timestamp()"
            " FROM generate_series(1, 300)"
        )
    await erase(container, gone)
    with psycopg.connect(container.owner_url) as conn:
        gate = conn.execute(
            "SELECT events.erased_since(%s)", (received - timedelta(minutes=5),)
        ).fetchone()
    assert gate == ("many",)
    await RealtimeSink(container.database).write(events)
    await CustomersActivitySink(customers_of(container)).write(events)
    await lake_sink(container, flush_max_events=1).write(events, positions(events))
    assert holding(container.owner_url, gone) == NOTHING
    assert holding(container.owner_url, kept) == {
        "recent": 2,
        "base_c.events": 2,
        "base_c.activity": 1,
    }
    assert lake_rows(container, gone) == 0 and lake_rows(container, kept) == 2
    assert await quarantined(client, auth, container, gone, kept) == {gone: 0, kept: 1}


async def test_random_interleavings_of_sink_writes_and_erasures_leave_no_erased_event(
    client: httpx.AsyncClient, container: Container
) -> None:
    """Realtime, Base C and lake writers deliver, at random moments, events all received before
    any erasure, while erasures commit at random moments: whatever the order, nothing of an
    erased customer remains, and every kept customer's event is written."""
    seed = int(os.environ.get("CAUDAL_FAULT_SEED", random.randrange(1 << 30)))
    print(f"fault seed: {seed} (CAUDAL_FAULT_SEED={seed} to run it again)")
    rng = random.Random(seed)
    people = [f"{rng.getrandbits(256):064x}" for _ in range(6)]
    erased = rng.sample(people, 3)
    received = datetime.now(UTC) - timedelta(seconds=1)
    lake = lake_sink(container, flush_max_events=1)
    sinks: dict[str, Any] = {
        "recent": RealtimeSink(container.database),
        "base_c.events": CustomersActivitySink(customers_of(container)),
        "lake": lake,
    }
    delivered: Counter[tuple[str, str]] = Counter()

    async def deliver(name: str, writer: int) -> None:
        for n in range(8):
            await asyncio.sleep(rng.random() * 0.03)
            events = [
                token_event("card-purchase", t, writer * 100 + n, received)
                for t in rng.sample(people, 3)
            ]
            delivered.update((name, e.data["cpf"]) for e in events)
            if name == "lake":
                await lake.write(events, positions(events))
            else:
                await sinks[name].write(events)

    async def erasing() -> None:
        for token in erased:
            await asyncio.sleep(rng.random() * 0.15)
            await erase(container, token)

    writers = (deliver(name, w) for w, name in enumerate(sinks))
    await asyncio.wait_for(asyncio.gather(*writers, erasing()), 60)
    for token in people:
        found = holding(container.owner_url, token) | {"lake": lake_rows(container, token)}
        wanted = {name: 0 if token in erased else delivered[name, token] for name in sinks}
        assert {name: found[name] for name in sinks} == wanted, f"fault seed {seed}"


@pytest.mark.parametrize("second", [False, True], ids=["one-erasure", "a-second-erasure"])
async def test_sink_writes_wait_for_the_erasures_record_not_for_its_deletes(
    client: httpx.AsyncClient, container: Container, second: bool
) -> None:
    """With `second`, another erasure at once (two customers.activity workers, or
    reapply-erasures beside the sink): its record waits for the barrier lock exclusively, and
    every new shared request queues behind it. So nothing that holds the lock shared may wait
    for an erasure's table scans, or every sink write (and the ingestion's quarantine) does."""
    gone, kept = tokens()
    received = datetime.now(UTC) - timedelta(seconds=1)
    await RealtimeSink(container.database).write(batch(gone, kept, received)[:1])
    holder = psycopg.connect(container.owner_url)  # a row of the erased customer, locked
    holder.execute(
        "SELECT 1 FROM events.recent WHERE position(%s IN data::text) > 0 FOR UPDATE", (gone,)
    )
    try:
        erasing = [asyncio.create_task(erase(container, gone))]
        await waiting(container.owner_url, "locktype = 'transactionid'")  # its DELETE waits
        if second:
            erasing.append(asyncio.create_task(erase(container, secrets.token_hex(32))))
            await asyncio.sleep(0.3)  # the second erasure's record, waiting or done
        later = [token_event("card-purchase", kept, 5, received)]
        await asyncio.wait_for(RealtimeSink(container.database).write(later), 10)
        assert not erasing[0].done()
        holder.rollback()
        await asyncio.wait_for(asyncio.gather(*erasing), 20)
    finally:
        holder.close()
    assert holding(container.owner_url, gone)["recent"] == 0
    assert holding(container.owner_url, kept)["recent"] == 1


async def test_an_erasure_notice_handled_again_spares_a_customer_registered_again_since(
    client: httpx.AsyncClient, container: Container
) -> None:
    """An erasure counts from its own time (the notice's `received_at`), not from when it is
    handled: handled again, it removes nothing received since and bars nothing new."""
    gone, _ = tokens()
    payload = customer_event(ERASED, str(uuid.uuid4()), bytes.fromhex(gone), None).payload
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    notice = CanonicalEvent.from_dict(
        {**payload, "occurred_at": an_hour_ago, "received_at": an_hour_ago}
    )
    sink = CustomersActivitySink(customers_of(container))
    await sink.write([notice])  # that erasure was an hour ago
    # the same CPF registered again half an hour ago: new data, kept by the barrier
    again = batch(gone, secrets.token_hex(32), datetime.now(UTC) - timedelta(minutes=30))[:2]
    await RealtimeSink(container.database).write(again)
    await sink.write(again)
    await lake_sink(container, flush_max_events=1).write(again, positions(again))
    new_customer = {"recent": 2, "base_c.events": 2, "base_c.activity": 1}
    assert holding(container.owner_url, gone) == new_customer
    assert lake_rows(container, gone) == 2
    await sink.write([notice])  # the old notice again (a replay of the group, a redelivery)
    await RealtimeSink(container.database).write(again)  # the new customer's, redelivered
    await sink.write(again)
    assert holding(container.owner_url, gone) == new_customer
    assert lake_rows(container, gone) == 2


def copies_of(owner_url: str, token: str) -> dict[str, list[str]]:
    """The event ids each store outside Base C holds for the token (sorted)."""
    queries = {
        "bus.messages": "SELECT payload->>'id' FROM bus.messages m",
        "bus.dead_letters": "SELECT payload->>'id' FROM bus.dead_letters m",
        "events.quarantine": "SELECT type FROM events.quarantine q"
        " WHERE %(t)s = ANY(q.tokens) ORDER BY 1",
    }
    found = {}
    with psycopg.connect(owner_url) as conn:
        for name, sql in queries.items():
            if name.startswith("bus."):
                sql += " WHERE position(%(t)s IN m.payload::text) > 0 ORDER BY 1"
            found[name] = [str(r[0]) for r in conn.execute(sql, {"t": token}).fetchall()]
    return found


async def test_a_customer_registered_again_before_the_erasure_is_handled_keeps_the_new_data(
    client: httpx.AsyncClient, container: Container
) -> None:
    """An erasure is handled asynchronously: the same CPF registered again between the erasure
    and its first handling has new data in every store by then. Every delete is bounded by the
    erasure's own time (+ MARGIN, as the barrier drops): only the older copies go, in realtime,
    Base C, the lake, the PostgreSQL bus and its dead letters, and the quarantine."""
    gone, _ = tokens()
    now = datetime.now(UTC)
    erased_id, registered_id = uuid.uuid4(), uuid.uuid4()  # Base A: a new id for the new customer
    payload = customer_event(ERASED, str(erased_id), bytes.fromhex(gone), None).payload
    an_hour_ago = (now - timedelta(hours=1)).isoformat()
    notice = CanonicalEvent.from_dict(
        {**payload, "occurred_at": an_hour_ago, "received_at": an_hour_ago}
    )
    old = [token_event("card-purchase", gone, n, now - timedelta(hours=2)) for n in (0, 1)]
    new = [token_event("card-purchase", gone, n, now - timedelta(minutes=30)) for n in (2, 3)]
    sink = CustomersActivitySink(customers_of(container))
    await RealtimeSink(container.database).write(old + new)
    await sink.write(old + new)
    await lake_sink(container, flush_max_events=1).write(old + new, positions(old + new))
    await container.bus.publish([e.to_message(e.id) for e in old + new])
    # a payload whose receipt time is unknown goes if published before the first handling
    await container.bus.publish(
        [Message("raw", "k", {"id": "raw", "ref": gone, "received_at": "not a time"})]
    )
    sealer = runtime.get(container).sealer
    with psycopg.connect(container.owner_url) as conn:
        conn.execute(
            "INSERT INTO base_b.score_data (customer_id) VALUES (%s), (%s)",
            (erased_id, registered_id),
        )
        # a row stored by an older release (no receipt time): goes, stored before the handling
        conn.execute(
            "UPDATE base_c.events SET received_at = NULL WHERE event_id = %s", (old[0].id,)
        )
        conn.execute(
            "INSERT INTO bus.dead_letters (group_name, seq, xid, topic, key, partition,"
            " message_id, payload, headers, published_at, attempts, last_error)"
            " SELECT 'lake', seq, xid, topic, key, partition, message_id, payload::jsonb,"
            " headers::jsonb, published_at, 5, 'failed' FROM bus.messages"
            " WHERE position(%s IN payload::text) > 0",
            (gone,),
        )
        for kind, received in (("old", now - timedelta(hours=2)), ("new", new[0].received_at)):
            entry = str(uuid.uuid4())
            sealed = sealer.seal(entry, orjson.dumps({"data": {"cpf": gone}}))
            conn.execute(
                "INSERT INTO events.quarantine (id, received_at, source, type, version, reason,"
                " code, message, sealed, wrapped_key, key_epoch, tokens) VALUES (%s, %s,"
                " 'backend', %s, '1.0', 'schema', 'CAU-EVT-SCHEMA', 'invalid', %s, %s, %s, %s)",
                (
                    entry,
                    received,
                    kind,
                    sealed.sealed,
                    sealed.wrapped_key,
                    sealed.key_epoch,
                    sealed.tokens,
                ),
            )

    await sink.write([notice])  # first handled now, an hour after the erasure

    ids = [e.id for e in new]
    assert holding(container.owner_url, gone) == {
        "recent": 2,
        "base_c.events": 2,
        "base_c.activity": 1,
    }
    assert copies_of(container.owner_url, gone) == {
        "bus.messages": ids,
        "bus.dead_letters": ids,
        "events.quarantine": ["new"],
    }
    assert lake_rows(container, gone) == 2
    with psycopg.connect(container.owner_url) as conn:
        timeline = conn.execute(
            "SELECT event_id FROM base_c.events WHERE cpf_index = %s ORDER BY 1",
            (bytes.fromhex(gone),),
        ).fetchall()
        latest = conn.execute(
            "SELECT ultima_compra_id, ultima_compra->>'valor' FROM base_c.activity"
            " WHERE cpf_index = %s",
            (bytes.fromhex(gone),),
        ).fetchall()
        base_b = conn.execute(
            "SELECT customer_id FROM base_b.score_data WHERE customer_id = ANY(%s)",
            ([erased_id, registered_id],),
        ).fetchall()
    assert [r[0] for r in timeline] == ids
    assert base_b == [(registered_id,)]  # Base B is keyed by customer: the new one's stays
    assert latest == [(ids[1], "10.00")]  # projected again from the new data alone


async def test_an_erasure_reapplied_from_the_log_spares_a_customer_registered_again_since(
    client: httpx.AsyncClient, container: Container
) -> None:
    """`caudal customers reapply-erasures` (without `--log`: the database's own log) records
    each entry at its own time and removes only what is older than it."""
    gone, _ = tokens()
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    payload = customer_event(ERASED, str(uuid.uuid4()), bytes.fromhex(gone), None).payload
    notice = CanonicalEvent.from_dict(
        {**payload, "occurred_at": an_hour_ago.isoformat(), "received_at": an_hour_ago.isoformat()}
    )
    sink = CustomersActivitySink(customers_of(container))
    await sink.write([notice])
    again = batch(gone, secrets.token_hex(32), datetime.now(UTC) - timedelta(minutes=30))[:2]
    await RealtimeSink(container.database).write(again)
    await sink.write(again)
    await lake_sink(container, flush_max_events=1).write(again, positions(again))
    entry = Erasure(uuid.uuid4(), an_hour_ago, None, bytes.fromhex(gone), None, None, [], [])
    async with await psycopg.AsyncConnection.connect(container.owner_url, autocommit=True) as conn:
        await reapply(conn, customers_of(container).copies, [entry])
    assert holding(container.owner_url, gone) == {
        "recent": 2,
        "base_c.events": 2,
        "base_c.activity": 1,
    }
    assert lake_rows(container, gone) == 2


async def test_a_base_c_event_carrying_the_cpf_itself_is_held_back_by_its_token(
    client: httpx.AsyncClient, container: Container
) -> None:
    """Base C files an event from before tokenization (still on the bus, or replayed) under the
    CPF's token (`projection.cpf_index_of`): the barrier must know it by that token too."""
    customers = customers_of(container)
    gone = customers.vault.cpf_index(CPF_1).hex()
    received = datetime.now(UTC) - timedelta(seconds=1)
    raw = token_event("card-purchase", gone, 1, received)
    raw = CanonicalEvent.from_dict(
        {**raw.to_dict(), "data": {**raw.data, "cpf": format_cpf(CPF_1)}}
    )
    await erase(container, gone)
    await CustomersActivitySink(customers).write([raw])
    assert holding(container.owner_url, gone) == NOTHING


async def test_a_cancelled_erasure_keeps_the_lake_writers_out_until_its_file_rewrite_ends(
    client: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker stopping (its services cancelled after 30 s) mid-rewrite: the rewrite's thread
    runs on, so the file's writer lock must stay held until it ends, or a delivery merges into a
    file being rewritten (one of the two writes is lost: new rows, or the erasure)."""
    from caudal.events import lake_erasure

    gone, kept = tokens()
    first = batch(gone, kept, datetime.now(UTC) - timedelta(seconds=1))
    await lake_sink(container, flush_max_events=1).write(first, positions(first))
    step = HeldStep(monkeypatch, lake_erasure, "rewrite")
    erasing = asyncio.create_task(erase(container, gone))
    await step.cancel_inside(erasing, "the erasure rewriting a lake file")
    writers = advisory_granted(container.owner_url, "classid = %s AND objsubid = 2", (LAKE_LOCK,))
    await step.release(erasing)
    assert erasing.cancelled()
    assert writers == 1  # a lake delivery to that partition would have waited
    assert lake_rows(container, gone) == 0 and lake_rows(container, kept) == 2


async def test_lake_deliveries_go_on_while_an_erasure_scans_the_lake(
    client: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan reads every file of the lake: on a real one, minutes. Lake deliveries waiting for
    it all that time fail at the statement timeout (30 s), are retried and dead-lettered; only
    a file being rewritten need exclude its bus partition's writers."""
    from caudal.events.lake_files import LakeFiles

    gone, kept = tokens()
    received = datetime.now(UTC) - timedelta(seconds=1)
    sink = lake_sink(container, flush_max_events=1)
    first = batch(gone, kept, received)
    await sink.write(first, positions(first))
    entered, go = threading.Event(), threading.Event()
    parts = LakeFiles.parts

    def slow(self: LakeFiles, dt: str | None = None) -> dict[str, list[str]]:
        if not go.is_set():  # the erasure's scan: a long one
            entered.set()
            go.wait(20)
        return parts(self, dt)

    monkeypatch.setattr(LakeFiles, "parts", slow)
    erasing = asyncio.create_task(erase(container, gone))
    try:
        await until(entered.is_set, what="the erasure scanning the lake")
        later = [token_event("card-purchase", kept, 5, received)]
        now = datetime.now(UTC)
        await asyncio.wait_for(sink.write(later, [("k", 10, now)]), 10)
    finally:
        go.set()
        await asyncio.wait_for(erasing, 20)
    assert lake_rows(container, gone) == 0 and lake_rows(container, kept) == 3


async def test_two_erasures_at_once_rewriting_one_lake_file_both_hold(
    client: httpx.AsyncClient, container: Container
) -> None:
    """Each rewrite reads the file again under its partition's lock: neither erasure's rewrite
    puts back the rows the other removed, nor fails on a file the other emptied."""
    gone, other = tokens()
    kept = secrets.token_hex(32)
    received = datetime.now(UTC) - timedelta(seconds=1)
    events = batch(gone, kept, received) + batch(other, kept, received)[:2]
    await lake_sink(container, flush_max_events=1).write(events, positions(events))
    assert lake_rows(container, gone) == 2 and lake_rows(container, other) == 2
    await asyncio.wait_for(asyncio.gather(erase(container, gone), erase(container, other)), 20)
    assert lake_rows(container, gone) == 0 and lake_rows(container, other) == 0
    assert lake_rows(container, kept) == 2
