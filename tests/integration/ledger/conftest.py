"""Ledger fixtures: an open database, the real bus, the intake and the posting engine."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from caudal.ledger.engine import PostingEngine
from caudal.ledger.intake import Intake
from caudal.ledger.validation import Rules
from caudal.platform.bootstrap import Container


@pytest.fixture
async def opened(container: Container) -> AsyncIterator[Container]:
    await container.database.open()
    try:
        yield container
    finally:
        await container.database.close()


@pytest.fixture
def engine(opened: Container) -> PostingEngine:
    return PostingEngine(opened.database, opened.bus)


@pytest.fixture
def intake(opened: Container) -> Intake:
    return Intake(opened.database, opened.bus, opened.settings.ledger.topic)


def today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture
def rules() -> Rules:
    return Rules(today=today(), backdate_days=7)


@pytest.fixture
def make_impact() -> Callable[..., dict[str, Any]]:
    import uuid

    def make(**overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "tracekey": str(uuid.uuid4()),
            "branch": "0001",
            "account": "000000001",
            "amount": "10.00",
            "debitcredit": "C",
            "eventcode": 5,
            "description": "test",
            "details": {"origin": "tests"},
            "dateref": today().isoformat(),
        }
        body.update(overrides)
        if isinstance(body.get("amount"), Decimal):
            body["amount"] = str(body["amount"])
        return body

    return make


@asynccontextmanager
async def posting_workers(container: Container, count: int = 1) -> AsyncIterator[None]:
    """`count` posting-engine members of the consumer group, on the real bus."""
    from caudal.ledger.capability import posting_consumer

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(container.bus.consume(posting_consumer(container), stop))
        for _ in range(count)
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def wait_decided(container: Container, tracekeys: list[str], seconds: float = 60) -> None:
    """Until every tracekey is posted or rejected."""
    deadline = time.monotonic() + seconds
    while True:
        async with container.database.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM ledger.impact i WHERE i.tracekey = ANY(%s::uuid[]) AND ("
                " EXISTS (SELECT 1 FROM ledger.transaction t WHERE t.tracekey = i.tracekey) OR"
                " EXISTS (SELECT 1 FROM ledger.rejection r WHERE r.tracekey = i.tracekey))",
                (tracekeys,),
            )
            row = await cur.fetchone()
        if row is not None and row[0] == len(set(tracekeys)):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"only {row[0] if row else 0}/{len(tracekeys)} decided")
        await asyncio.sleep(0.05)
