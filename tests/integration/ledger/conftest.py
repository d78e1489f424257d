"""Ledger fixtures: an open database, the real bus, the intake and the posting engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
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
