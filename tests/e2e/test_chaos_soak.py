"""Chaos soak, on each bus backend (PostgreSQL, and NATS JetStream on a private nats-server):
two `caudal api` processes take a stream of events and ledger impacts (with duplicates and one
poison value) while 1-4 `caudal worker` processes are started, SIGTERMed and killed with SIGKILL
at moments drawn from a seeded schedule (on NATS a killed worker may be the one running the
outbox relay that forwards the ledger's events). At the end every acknowledged event is in the
lake exactly once, every accepted impact is posted or rejected, balances equal the journal, no
group lags and every partition is held.

Bounded for `make test` (CAUDAL_SOAK_SECONDS of chaos per backend, 10 by default); replay a
failure with the seed its message prints:
`CAUDAL_SOAK_SEED=... CAUDAL_SOAK_SECONDS=... pytest -k "chaos_soak and <backend>"`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import httpx
import orjson
import psycopg
import pytest

from tests.e2e.conftest import caudal
from tests.support.nats import BusBackend, bus_backend
from tests.support.processes import FAST_ENV, LEASE_SECONDS, Fleet, fleet

pytestmark = pytest.mark.e2e

__all__ = ["bus_backend", "fleet"]

SOAK_SECONDS = float(os.environ.get("CAUDAL_SOAK_SECONDS", "10"))
SEED = int(os.environ.get("CAUDAL_SOAK_SEED") or random.SystemRandom().randrange(2**31))
MAX_WORKERS = 4
CONVERGED_S = LEASE_SECONDS * 4 / 3 + 0.5  # a lease, a heartbeat (lease / 3), some slack
SCHEMA = {
    "type": "soak-tick",
    "version": "1.0",
    "source": "backend",
    "schema": {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
    },
}
POISON_ACCOUNT = "soak-poison"


def schedule(rng: random.Random, seconds: float) -> list[tuple[float, str]]:
    """(moment, action) pairs: start a worker, SIGTERM one, or kill -9 one."""
    moments: list[tuple[float, str]] = []
    at = rng.uniform(0.5, 2.0)
    while at < seconds:
        moments.append((at, rng.choices(["start", "sigterm", "kill"], [0.4, 0.25, 0.35])[0]))
        at += rng.uniform(0.8, 3.5)
    return moments


@dataclass
class Load:
    """Posts events and impacts to both APIs until stopped; remembers what was acknowledged."""

    bases: list[str]
    token: str
    rng: random.Random
    seed: int
    events: set[str] = field(default_factory=set)
    impacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    sent: list[tuple[str, Any]] = field(default_factory=list)

    def run(self) -> None:
        clients = [
            httpx.Client(base_url=b, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)
            for b in self.bases
        ]
        n = 0
        poison_at = self.rng.randrange(5, 40)
        try:
            while not self.stop.is_set():
                http = clients[n % len(clients)]
                if n == poison_at:
                    self._impacts(http, self._poison())
                elif self.sent and self.rng.random() < 0.15:  # a client retrying a request
                    path, body = self.rng.choice(self.sent)
                    self._post(http, path, body)
                elif self.rng.random() < 0.6:
                    self._events(http, n)
                else:
                    self._impacts(http, [self._impact() for _ in range(self.rng.randint(1, 8))])
                n += 1
                time.sleep(self.rng.uniform(0.0, 0.05))
        finally:
            for client in clients:
                client.close()

    def _events(self, http: httpx.Client, n: int) -> None:
        if self.rng.random() < 0.5:  # a backend event: its eventId makes a resend a duplicate
            self._post(
                http,
                "/v1/events/backend",
                {
                    "eventType": "soak-tick",
                    "version": "1.0",
                    "eventDateTime": datetime.now(UTC).isoformat(),
                    "eventId": f"soak-{self.seed}-{n}",
                    "data": {"n": n},
                },
            )
            return
        device = f"soak-{self.rng.randrange(50)}"
        items = [
            {"timestamp": datetime.now(UTC).isoformat(), "event_id": f"tick_{i % 3}"}
            for i in range(self.rng.randint(1, 20))
        ]
        self._post(
            http,
            "/v1/events/frontend",
            {"device": {"platform": "Android", "deviceId": device}, "data": items},
        )

    def _impact(self, **overrides: Any) -> dict[str, Any]:
        impact = {
            "tracekey": str(uuid.UUID(int=self.rng.getrandbits(128))),
            "branch": "0001",
            "account": f"soak-{self.rng.randrange(24):02d}",
            "amount": f"{self.rng.randint(1, 500_000) / 100:.2f}",
            "debitcredit": self.rng.choice("DC"),
            "eventcode": 5,
            "dateref": datetime.now(UTC).date().isoformat(),
        }
        impact.update(overrides)
        return impact

    def _poison(self) -> list[dict[str, Any]]:
        """The issue's pair: the second credit overflows the account's numeric(15,2) total."""
        return [
            self._impact(account=POISON_ACCOUNT, amount="9999999999999.99", debitcredit="C"),
            self._impact(account=POISON_ACCOUNT, amount="12.00", debitcredit="C"),
        ]

    def _impacts(self, http: httpx.Client, body: list[dict[str, Any]]) -> None:
        self._post(http, "/v1/ledger/impacts", body)

    def _post(self, http: httpx.Client, path: str, body: Any) -> None:
        try:
            response = http.post(path, json=body)
        except httpx.HTTPError as exc:
            self.failures.append(f"{path}: {exc!r}")
            return
        if response.status_code != 202:
            self.failures.append(f"{path}: {response.status_code} {response.text[:300]}")
            return
        self.sent.append((path, body))
        if path.startswith("/v1/events/"):
            self.events.update(a["id"] for a in response.json()["accepted"])
        else:
            for impact in body:
                self.impacts[impact["tracekey"]] = impact


class Chaos:
    """Applies the schedule to the worker processes, keeping between 1 and MAX_WORKERS."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.workers: list[subprocess.Popen[bytes]] = []
        self.log: list[str] = []
        self.started = self.changed_at = time.monotonic()

    def apply(self, action: str, rng: random.Random) -> None:
        live = [w for w in self.workers if w.poll() is None]
        self.workers = live
        if action != "start" and len(live) <= 1:
            action = "start"
        elif action == "start" and len(live) >= MAX_WORKERS:
            action = "kill"
        if action == "start":
            self.workers.append(self.fleet.start("worker"))
            pid = self.workers[-1].pid
        else:
            victim = self.workers.pop(rng.randrange(len(self.workers)))
            pid = victim.pid
            victim.send_signal(signal.SIGTERM if action == "sigterm" else signal.SIGKILL)
        self.changed_at = time.monotonic()
        self.log.append(f"{self.changed_at - self.started:6.1f}s {action} {pid}")


GROUPS = """
SELECT g.group_name, g.partitions,
       (SELECT count(*) FROM bus.offsets o WHERE o.group_name = g.group_name
          AND o.owner IS NOT NULL AND o.lease_until >= now()),
       (SELECT count(*) FROM bus.offsets o JOIN bus.messages m
          ON m.topic = ANY(g.topics) AND m.partition = o.partition
         AND (m.xid, m.seq) > (o.xid, o.seq)
        WHERE o.group_name = g.group_name),
       (SELECT count(*) FROM bus.dead_letters d
        WHERE d.group_name = g.group_name AND d.redriven_at IS NULL)
FROM bus.groups g ORDER BY 1
"""
DECIDED = """
SELECT i.tracekey::text, CASE WHEN t.tracekey IS NOT NULL THEN 'posted'
                              WHEN r.tracekey IS NOT NULL THEN 'rejected' ELSE 'pending' END,
       r.code
FROM ledger.impact i
LEFT JOIN ledger.transaction t ON t.tracekey = i.tracekey
LEFT JOIN ledger.rejection r ON r.tracekey = i.tracekey
WHERE i.tracekey = ANY(%s::uuid[])
"""


def groups(fleet: Fleet, backend: str) -> dict[str, tuple[int, int, int, int]]:
    """group -> (partitions, partitions held, lag, dead letters): from the tables on PostgreSQL
    (independent of the adapter's own status code), from `caudal bus status` on NATS."""
    if backend == "postgres":
        with psycopg.connect(fleet.database_url()) as conn:
            return {r[0]: tuple(int(v) for v in r[1:]) for r in conn.execute(GROUPS)}  # type: ignore[misc]
    return {
        g["group"]: (g["partitions"], g["partitions_held"], g["lag"], g["dead_letters"])
        for g in bus_status(fleet)
    }


def bus_status(fleet: Fleet) -> list[dict[str, Any]]:
    status = caudal("bus", "status", "--json", home=fleet.home, **fleet.env)
    assert status.returncode == 0, status.stderr
    found: list[dict[str, Any]] = orjson.loads(status.stdout)
    return found


def lake_counts(fleet: Fleet) -> dict[str, int]:
    files = list((fleet.home / "lake").glob("*/*/dt=*/*.parquet"))
    if not files:
        return {}
    with duckdb.connect() as db:
        rows = db.execute(
            "SELECT id, count(*) FROM read_parquet(?, union_by_name = true) GROUP BY id",
            [[str(f) for f in files]],
        ).fetchall()
    return {str(i): int(c) for i, c in rows}


def ledger_counts(fleet: Fleet) -> dict[str, int]:
    """trace key -> ledger callback events (posted or rejected) in the lake: the ledger
    publishes them in its posting transaction (on NATS through the outbox and its relay)."""
    files = list((fleet.home / "lake").glob("*/*/dt=*/*.parquet"))
    if not files:
        return {}
    with duckdb.connect() as db:
        rows = db.execute(
            "SELECT trace_key, count(*) FROM read_parquet(?, union_by_name = true)"
            " WHERE source = 'ledger' GROUP BY trace_key",
            [[str(f) for f in files]],
        ).fetchall()
    return {str(t): int(c) for t, c in rows}


STUCK = """
SELECT o.group_name, o.partition, o.owner, o.lease_until > now(), o.attempts, o.next_attempt_at,
       o.isolate_xid IS NOT NULL, left(o.last_error, 300)
FROM bus.offsets o JOIN bus.groups g USING (group_name)
WHERE EXISTS (SELECT 1 FROM bus.messages m WHERE m.topic = ANY(g.topics)
              AND m.partition = o.partition AND (m.xid, m.seq) > (o.xid, o.seq))
ORDER BY 1, 2
"""


def stuck(fleet: Fleet, backend: str) -> str:
    """The partitions that still lag, with their owner and retry state (for a failure)."""
    if backend != "postgres":
        return "\n".join(str(g) for g in bus_status(fleet))
    with psycopg.connect(fleet.database_url()) as conn:
        return "\n".join(str(row) for row in conn.execute(STUCK))


def settled(state: dict[str, tuple[int, int, int, int]]) -> bool:
    return all(held == partitions and lag == 0 for partitions, held, lag, _ in state.values())


def statuses(url: str, tracekeys: list[str]) -> dict[str, tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute(DECIDED, (tracekeys,))}


def test_chaos_soak(bus_backend: BusBackend, fleet: Fleet) -> None:
    seed, backend = SEED, bus_backend.name
    replay = (
        f"{backend} bus: replay with CAUDAL_SOAK_SEED={seed} CAUDAL_SOAK_SECONDS={SOAK_SECONDS:g}"
        f' pytest -k "chaos_soak and {backend}"'
    )
    print(f"chaos soak: {replay}")
    began = time.monotonic()
    fleet.env.update(FAST_ENV, **bus_backend.env)
    # One after the other (the key file's creation race of concurrent first starts is fixed:
    # unique temporary names and a no-overwrite link, tests/integration/customers).
    bases = [fleet.api(), fleet.api()]
    url = fleet.database_url()
    minted = caudal(
        "token",
        *("--scope", "events:write", "--scope", "ledger:write", "--scope", "ledger:read"),
        *("--scope", "schemas:write"),
        home=fleet.home,
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    registered = httpx.post(
        f"{bases[0]}/v1/schemas", json=SCHEMA, headers={"Authorization": f"Bearer {token}"}
    )
    assert registered.status_code == 201, registered.text

    plan = random.Random(seed)
    chaos = Chaos(fleet)
    for _ in range(plan.randint(1, 2)):
        chaos.apply("start", plan)
    load = Load(bases, token, random.Random(seed + 1), seed)
    producer = threading.Thread(target=load.run, daemon=True)
    producer.start()
    for at, action in schedule(plan, SOAK_SECONDS):
        time.sleep(max(0.0, at - (time.monotonic() - chaos.started)))
        chaos.apply(action, plan)
    load.stop.set()
    producer.join(timeout=60)
    if not [w for w in chaos.workers if w.poll() is None]:
        chaos.apply("start", plan)
    history = "\n".join(chaos.log)
    context = f"{replay}\nschedule:\n{history}"
    assert not load.failures, f"{context}\nrequests refused: {load.failures[:5]}"
    assert load.events and load.impacts, context

    # Converge: lag 0, every partition held, every event in the lake. A worker killed last holds
    # its partitions until its lease expires: judge from the convergence bound on (every lease
    # taken during the chaos expired, plus one heartbeat).
    time.sleep(max(0.0, chaos.changed_at + CONVERGED_S - time.monotonic()))
    deadline = time.monotonic() + 90
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = lake_counts(fleet)
        if (
            settled(groups(fleet, backend))
            and load.events <= counts.keys()
            and load.impacts.keys() <= ledger_counts(fleet).keys()
        ):
            break
        time.sleep(0.5)
    time.sleep(1.0)  # a late duplicate would show up now
    counts = lake_counts(fleet)
    state = groups(fleet, backend)
    healed_by = time.monotonic() + CONVERGED_S  # a heartbeat late on a loaded machine heals
    while not settled(state) and time.monotonic() < healed_by:
        time.sleep(0.2)
        state = groups(fleet, backend)

    missing = load.events - counts.keys()
    twice = {i: c for i, c in counts.items() if c != 1}
    assert not missing, f"{context}\n{len(missing)} acknowledged events not in the lake"
    assert not twice, f"{context}\nin the lake more than once: {list(twice.items())[:5]}"
    assert {"lake", "ledger-posting"} <= state.keys(), context
    assert state == {g: (p, p, 0, 0) for g, (p, *_) in state.items()}, (
        f"{context}\nlagging partitions:\n{stuck(fleet, backend)}\nworker logs:\n{fleet.problems()}"
    )

    decided = statuses(url, sorted(load.impacts))
    assert decided.keys() == load.impacts.keys(), context
    by_status: dict[str, list[str]] = {}
    for tracekey, (status, _) in decided.items():
        by_status.setdefault(status, []).append(tracekey)
    poison = [
        t
        for t, i in load.impacts.items()
        if i["account"] == POISON_ACCOUNT and i["amount"] == "12.00"
    ]
    assert by_status.get("pending", []) == [], f"{context}\nstill pending"
    assert by_status.get("rejected", []) == poison, context
    assert all(decided[t][1] == "CAU-LEDGER-UNPOSTABLE" for t in poison), context
    assert len(by_status["posted"]) == len(load.impacts) - len(poison), context

    callbacks = ledger_counts(fleet)
    assert callbacks == dict.fromkeys(load.impacts, 1), (
        f"{context}\nledger events missing: {len(load.impacts.keys() - callbacks.keys())},"
        f" more than once: {[t for t, c in callbacks.items() if c > 1][:5]}"
    )

    reconciled = caudal("ledger", "reconcile", home=fleet.home, **fleet.env)
    assert reconciled.returncode == 0, f"{context}\n{reconciled.stdout}{reconciled.stderr}"
    assert "0 difference(s)" in reconciled.stdout, context
    print(
        f"chaos soak on {backend}, seed {seed}: {len(load.events)} events,"
        f" {len(load.impacts)} impacts, {len(chaos.log)} worker changes,"
        f" {time.monotonic() - began:.0f} s: ok"
    )
