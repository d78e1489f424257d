"""The posting callbacks built a batch at a time are the canonical events, byte for byte."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from caudal.events.model import CanonicalEvent
from caudal.ledger.engine import (
    _CALLBACK_NS,
    POSTED_EVENT,
    Posting,
    callback_id,
    posted_data,
    posted_messages,
)
from caudal.ledger.model import Impact


def test_callback_id_is_uuid5_of_kind_and_tracekey() -> None:
    for _ in range(200):
        tracekey = str(uuid.uuid4())
        expected = uuid.uuid5(_CALLBACK_NS, f"{POSTED_EVENT}:{tracekey}")
        assert callback_id(POSTED_EVENT, tracekey) == str(expected)


def test_posted_messages_are_the_canonical_events() -> None:
    brasilia = timezone(timedelta(hours=-3))
    createdat = [datetime(2026, 12, 3, 9, 30, 1, 123456, tzinfo=brasilia)] * 2 + [
        datetime(2026, 12, 3, 12, 30, 2, tzinfo=UTC)
    ]
    posted = [
        (
            Posting(
                Impact(
                    str(uuid.uuid4()),
                    "0001",
                    f"00000000{n}",
                    Decimal("1234.5") + n,
                    "D" if n % 2 else "C",
                    5,
                    date(2026, 12, 3) - timedelta(days=n),
                    "x",
                    {"pdv": n},
                ),
                str(uuid.uuid4()),
            ),
            at,
        )
        for n, at in enumerate(createdat)
    ]
    messages = posted_messages(posted)
    received_at = datetime.fromisoformat(messages[0].payload["received_at"])
    assert received_at.tzinfo is not None
    assert {m.payload["received_at"] for m in messages} == {messages[0].payload["received_at"]}
    expected = [
        CanonicalEvent(
            id=str(uuid.uuid5(_CALLBACK_NS, f"{POSTED_EVENT}:{posting.impact.tracekey}")),
            source="ledger",
            type=POSTED_EVENT,
            version="1",
            occurred_at=at.astimezone(UTC),
            received_at=received_at,
            trace_key=posting.impact.tracekey,
            data=posted_data(posting),
        ).to_message(posting.impact.key)
        for posting, at in posted
    ]
    assert messages == expected
    assert messages[0].payload["occurred_at"] == "2026-12-03T12:30:01.123456+00:00"
