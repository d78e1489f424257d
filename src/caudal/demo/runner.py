"""Send the demo's traffic to a running caudal through its public HTTP API."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from caudal.demo import traffic

# Each kind of traffic and the route it needs; a kind whose route is absent is skipped.
ROUTES = {
    "frontend": "/v1/events/frontend",
    "backend": "/v1/events/backend",
    "customers": "/clientes",
    "score": "/clientes/{customer_id}/score-data",
    "ledger": "/v1/ledger/impacts",
}
BACKEND_KINDS = (
    ("selfie-uploaded", 2),
    ("document-uploaded", 2),
    ("card-purchase", 4),
    ("bureau-query", 2),
    ("financial-movement", 3),
)
# Share of the event budget per kind (frontend requests carry several events each).
MIX = (("frontend", 0.6), ("backend", 0.25), ("ledger", 0.12), ("customers", 0.03))
TICK_SECONDS = 0.5
CUSTOMERS = 12
DEVICES = 30


class DemoError(RuntimeError):
    """The demo cannot go on; the message says what to do."""


@dataclass
class Tally:
    sent: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    last_error: dict[str, str] = field(default_factory=dict)


class Demo:
    def __init__(self, client: httpx.AsyncClient, seed: int | None = None) -> None:
        self.client = client
        self.rng = random.Random(seed)  # noqa: S311  (demo data, not secrets)
        self.kinds: list[str] = []
        self.skipped: dict[str, str] = {}
        self.people = [traffic.cpf(self.rng) for _ in range(CUSTOMERS)]
        self.customer_ids: dict[str, str] = {}  # CPF -> id, once created
        self.devices = [
            (self.rng.choice(traffic.PLATFORMS), traffic.device_id(self.rng))
            for _ in range(DEVICES)
        ]
        self.tally = Tally()

    async def probe(self) -> None:
        """Which routes this server has (its OpenAPI document) and whether the token works."""
        try:
            spec = await self.client.get("/openapi.json")
        except httpx.TransportError as exc:
            raise DemoError(
                f"cannot reach caudal at {self.client.base_url} ({type(exc).__name__}); "
                "start it with `caudal up` or pass --url"
            ) from exc
        if spec.status_code != 200:
            raise DemoError(f"{self.client.base_url} does not look like caudal (no OpenAPI)")
        me = await self.client.get("/v1/whoami")
        if me.status_code == 401:
            raise DemoError(
                "the server refused the token; pass --token (e.g. the admin token `caudal up` "
                "printed) or run the demo with the server's CAUDAL_HOME"
            )
        paths = set(spec.json().get("paths", {}))
        for kind, route in ROUTES.items():
            if route in paths:
                self.kinds.append(kind)
            else:
                self.skipped[kind] = f"{route} is not on this server"
        if not self.kinds:
            raise DemoError("this server has none of the routes the demo uses")

    async def seed_customers(self) -> None:
        """Every demo customer in Base A, and their score data in Base B."""
        if "customers" not in self.kinds:
            return
        await asyncio.gather(*(self._customer(person) for person in self.people))
        if "score" in self.kinds:
            await asyncio.gather(*(self._score(person) for person in self.customer_ids))

    async def _post(
        self, kind: str, path: str, body: Any, events: int, method: str = "POST"
    ) -> dict[str, Any] | None:
        try:
            response = await self.client.request(method, path, json=body)
        except httpx.TransportError as exc:
            self.tally.failed[kind] += 1
            self.tally.last_error[kind] = type(exc).__name__
            return None
        if response.status_code >= 400:
            self.tally.failed[kind] += 1
            detail = ""
            if "json" in response.headers.get("content-type", ""):
                detail = str(response.json().get("code", ""))
            self.tally.last_error[kind] = f"{response.status_code} {detail}".strip()
            return None
        self.tally.sent[kind] += 1
        self.tally.events[kind] += events
        answer = response.json() if "json" in response.headers.get("content-type", "") else None
        return answer if isinstance(answer, dict) else None

    async def _frontend(self) -> int:
        n = self.rng.randint(1, 5)
        index = self.rng.randrange(len(self.devices))
        user_id = index % traffic.CART_USERS + 1  # each device belongs to one shopper
        body = traffic.frontend(self.rng, self.devices[index], datetime.now(UTC), n, user_id)
        await self._post("frontend", ROUTES["frontend"], body, n)
        return n

    async def _backend(self) -> int:
        names = [name for name, _ in BACKEND_KINDS]
        weights = [weight for _, weight in BACKEND_KINDS]
        kind = self.rng.choices(names, weights)[0]
        body = traffic.backend(self.rng, kind, datetime.now(UTC), self.rng.choice(self.people))
        await self._post("backend", ROUTES["backend"], body, 1)
        return 1

    async def _ledger(self) -> int:
        await self._post(
            "ledger", ROUTES["ledger"], traffic.ledger_impact(self.rng, datetime.now(UTC)), 1
        )
        return 1

    async def _customer(self, person: str | None = None) -> int:
        person = person or self.rng.choice(self.people)
        body = traffic.customer(self.rng, person)
        created = await self._post("customers", ROUTES["customers"], body, 1)
        if created and "id" in created:
            self.customer_ids[person] = str(created["id"])
        return 1

    async def _score(self, person: str) -> None:
        path = ROUTES["score"].format(customer_id=self.customer_ids[person])
        await self._post("score", path, traffic.score_data(person), 1, method="PUT")

    def _senders(self) -> dict[str, Callable[[], Any]]:
        return {
            "frontend": self._frontend,
            "backend": self._backend,
            "ledger": self._ledger,
            "customers": self._customer,
        }

    def plan_tick(self, budget: float) -> list[str]:
        """Which requests to send this tick so that events per second match the rate."""
        shares = [(k, s) for k, s in MIX if k in self.kinds]
        total = sum(s for _, s in shares)
        chosen: list[str] = []
        for kind, share in shares:
            expected = budget * share / total
            if kind == "frontend":
                expected /= 3  # three events per frontend request on average
            whole = int(expected)
            chosen += [kind] * (whole + (1 if self.rng.random() < expected - whole else 0))
        return chosen

    async def run(
        self, rate: float, duration: float | None, report: Callable[[Tally, float], None]
    ) -> Tally:
        senders = self._senders()
        started = time.monotonic()
        last_report = started
        while duration is None or time.monotonic() - started < duration:
            tick = time.monotonic()
            await asyncio.gather(*(senders[k]() for k in self.plan_tick(rate * TICK_SECONDS)))
            now = time.monotonic()
            if now - last_report >= 5:
                report(self.tally, now - started)
                last_report = now
            await asyncio.sleep(max(0.0, TICK_SECONDS - (now - tick)))
        report(self.tally, time.monotonic() - started)
        return self.tally
