"""The realtime sink's per-minute counts against the rows they count (sinks/realtime.py).

A fresh batch goes in with one plain insert and its counts summed by the worker; a redelivered
one (an event already stored) falls back to the idempotent write. Either way each stored event
is counted once, in the statement that stores it: the dashboard's counts (`minute_counts`)
always equal the recent rows grouped by minute and kind, whatever was redelivered, whatever
ran at the same time. The race test is driven by a seed (`CAUDAL_FAULT_SEED=<seed>` runs it
again).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from caudal.events.model import CanonicalEvent
from caudal.events.queries import q
from caudal.events.sinks.realtime import RealtimeSink
from caudal.events.sinks.rows import count_arrays, rows_and_counts
from caudal.platform.bootstrap import Container
from caudal.platform.db.pool import Database
from tests.support.postgres import PostgresCluster

START = datetime.now(UTC).replace(second=0, microsecond=0)
PLATFORMS = ["Android", "iOS", None, ""]


def event(
    n: int, minute: int = 0, type_: str = "click", platform: str | None = "Android"
) -> CanonicalEvent:
    at = START + timedelta(minutes=minute, seconds=n % 60, microseconds=n)
    return CanonicalEvent(
        source="frontend",
        type=type_,
        version="1",
        occurred_at=at,
        received_at=at,
        data={"n": n},
        id=f"ev-{n:08d}",
        device=None if platform is None else {"platform": platform, "deviceId": f"d{n % 7}"},
    )


def events(ns: Sequence[int]) -> list[CanonicalEvent]:
    return [event(n, n % 3, f"t{n % 4}", PLATFORMS[n % len(PLATFORMS)]) for n in ns]


COUNTS = (
    "SELECT minute, source, type, platform, count FROM events.minute_counts ORDER BY 1, 2, 3, 4"
)
ROWS_GROUPED = (
    "SELECT date_trunc('minute', received_at), source, type, coalesce(platform, ''), count(*)"
    " FROM events.recent GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
)


async def counts_and_rows(database: Database) -> tuple[list[tuple[object, ...]], ...]:
    async with database.connection() as conn:
        counts = await (await conn.execute(COUNTS)).fetchall()
        grouped = await (await conn.execute(ROWS_GROUPED)).fetchall()
        ids = await (await conn.execute("SELECT id FROM events.recent ORDER BY id")).fetchall()
    return counts, grouped, ids


@pytest.fixture
async def opened(container: Container) -> AsyncIterator[Container]:
    await container.database.open()
    yield container
    await container.database.close()


async def test_counts_equal_the_rows_after_new_and_redelivered_batches(opened: Container) -> None:
    sink = RealtimeSink(opened.database)
    await sink.write(events(range(0, 40)))
    await sink.write(events(range(0, 40)))  # redelivered whole
    await sink.write(events(range(30, 60)))  # stored and new events
    await sink.write(events([60, 61, 61, 62]))  # one event twice in a batch
    await sink.write(events(range(55, 70)))
    counts, grouped, ids = await counts_and_rows(opened.database)
    assert counts == grouped
    assert sum(c[-1] for c in counts) == len(ids) == 70  # type: ignore[misc]
    assert {c[3] for c in counts} == {"Android", "iOS", ""}  # none and "" count together
    assert len({c[0] for c in counts}) == 3  # three minutes


async def test_the_worker_sums_the_minutes_as_postgresql_truncates_them(opened: Container) -> None:
    """The plain insert's counts (summed here) land on the rows `date_trunc` makes of the times
    (what the idempotent write counts by), in another offset too."""
    offset = datetime(2026, 3, 1, 12, 59, 59, 999_999, tzinfo=UTC).astimezone(
        datetime.fromisoformat("2026-01-01T00:00:00+05:45").tzinfo
    )
    batch = [CanonicalEvent("s", "t", "1", offset, offset, {}, id=f"tz-{i}") for i in range(3)] + [
        event(1, 0),
        event(2, 1),
    ]
    await RealtimeSink(opened.database).write(batch)
    counts, grouped, _ = await counts_and_rows(opened.database)
    assert counts == grouped
    assert (datetime(2026, 3, 1, 12, 59, tzinfo=UTC), "s", "t", "", 3) in counts


async def test_concurrent_batches_on_the_same_minutes_do_not_deadlock(opened: Container) -> None:
    """Four writers at once on the same minute rows, fresh batches and redeliveries of each
    other's: no deadlock (PostgreSQL would fail one after deadlock_timeout), every event
    counted once."""
    sink = RealtimeSink(opened.database)
    for round_ in range(6):
        base = round_ * 1000
        batches = [events(range(base + w * 100, base + w * 100 + 150)) for w in range(4)]
        await asyncio.gather(*(sink.write(b) for b in batches))  # neighbours overlap by 50
    counts, grouped, ids = await counts_and_rows(opened.database)
    assert counts == grouped
    assert sum(c[-1] for c in counts) == len(ids) == 6 * 450  # type: ignore[misc]


async def test_a_seeded_race_of_redeliveries_counts_each_event_once(opened: Container) -> None:
    """Batches cut at random from a stream of events, written by 3 writers at once with random
    pauses, each batch possibly redelivered at once or later, whole or cut otherwise; a reader
    meanwhile sees, in each snapshot, as many counted as stored (counts wait for rows)."""
    seed = int(os.environ.get("CAUDAL_FAULT_SEED", random.randrange(1 << 30)))
    print(f"fault seed: {seed} (CAUDAL_FAULT_SEED={seed} to run it again)")
    rng = random.Random(seed)
    sink = RealtimeSink(opened.database)
    stream = list(range(3000))
    batches: list[list[int]] = []
    at = 0
    while at < len(stream):
        size = rng.randint(1, 200)
        batches.append(stream[at : at + size])
        if rng.random() < 0.3:  # a redelivery, maybe cut differently
            back = rng.randint(0, max(at, 1))
            batches.append(stream[back : at + size + rng.randint(0, 50)])
        at += size
    rng.shuffle(batches[len(batches) // 2 :])
    done = asyncio.Event()
    seen: list[tuple[int, int]] = []

    async def reader() -> None:
        while not done.is_set():
            async with opened.database.connection() as conn:
                cur = await conn.execute(
                    "SELECT (SELECT coalesce(sum(count), 0) FROM events.minute_counts),"
                    " (SELECT count(*) FROM events.recent)"
                )
                row = await cur.fetchone()
                assert row is not None
                seen.append((int(row[0]), int(row[1])))
            await asyncio.sleep(0.005)

    async def writer(w: int) -> None:
        pauses = random.Random(seed + w)  # its own: the same pauses whatever the interleaving
        for ns in batches[w::3]:
            await asyncio.sleep(pauses.choice([0, 0, 0.001, 0.01]))
            await sink.write(events(ns))

    watching = asyncio.create_task(reader())
    try:
        await asyncio.gather(*(writer(w) for w in range(3)))
    finally:
        done.set()
        await watching
    counts, grouped, ids = await counts_and_rows(opened.database)
    assert counts == grouped, f"seed {seed}"
    assert len(ids) == len(stream), f"seed {seed}"
    assert sum(c[-1] for c in counts) == len(stream), f"seed {seed}"  # type: ignore[misc]
    assert seen and all(counted == stored for counted, stored in seen), f"seed {seed}"


async def test_a_redelivery_logs_the_event_id_and_never_the_payload(
    pg_cluster: PostgresCluster, database_url: str
) -> None:
    """A redelivered batch fails one statement, which the server logs as an ERROR: its DETAIL
    names the event id (the primary key), and no payload is in the log, even on a server that
    asks for the parameters of failed statements (our sessions turn that off). The same
    statement from a session that does not is logged with its parameters: the check sees
    them."""
    with psycopg.connect(pg_cluster.admin_url) as admin:
        row = admin.execute("SHOW data_directory").fetchone()
        assert row is not None
    log = Path(row[0]) / "log"
    name = psycopg.conninfo.conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute(f'ALTER DATABASE "{name}" SET log_parameter_max_length_on_error = -1')
    secret = f"secret-{uuid.uuid4()}"
    batch = [CanonicalEvent("s", "t", "1", START, START, {"cpf": secret}, id=f"id-{uuid.uuid4()}")]
    database = Database(database_url, min_size=1, max_size=2)
    await database.open()
    try:
        sink = RealtimeSink(database)
        await sink.write(batch)
        before = log.stat().st_size
        await sink.write(batch)  # redelivered
        logged = await _logged_since(log, before, batch[0].id)
    finally:
        await database.close()
    assert f"Key (id)=({batch[0].id}) already exists" in logged
    assert secret not in logged
    assert _counted_and_stored(database_url) == (1, 1)  # counted once

    before = log.stat().st_size  # the control: a session that leaves the server's setting
    rows, minutes = rows_and_counts(batch)
    params = {"rows": rows, "since": START, "expected": None, "among": None}
    with (
        psycopg.connect(database_url, autocommit=True) as plain,
        pytest.raises(psycopg.errors.UniqueViolation),
    ):
        plain.execute(q("realtime_insert"), {**params, **count_arrays(minutes)})
    assert secret in await _logged_since(log, before, secret)


async def _logged_since(log: Path, offset: int, wanted: str) -> str:
    """The server log's text after `offset`, once it holds `wanted` (or after ~5 s)."""
    deadline = time.monotonic() + 5
    while True:
        with log.open("rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
        if wanted in text or time.monotonic() > deadline:
            return text
        await asyncio.sleep(0.05)


def _counted_and_stored(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT sum(count) FROM events.minute_counts),"
            " (SELECT count(*) FROM events.recent)"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])
