"""The posting callbacks built a batch at a time are the canonical events, byte for byte; the
shortcuts they and the batch documents take write what the longer way wrote."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from caudal.events.model import CanonicalEvent
from caudal.ledger.engine import (
    _CALLBACK_NS,
    POSTED_EVENT,
    Posting,
    _json,
    amount_text,
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


_AMOUNTS = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.integers(1, 10**15).map(lambda n: Decimal(n) / 100),  # the bench's: "1234.5", "12"
)


@given(_AMOUNTS)
def test_amount_text_is_the_two_decimal_format(amount: Decimal) -> None:
    assert amount_text(amount) == f"{amount:.2f}"


def test_amount_text_of_the_edges() -> None:
    for text in ("0.01", "1E+2", "1.00E+3", "1.5E-7", "-0.00", "9999999999999.99", "10", "0.1"):
        assert amount_text(Decimal(text)) == f"{Decimal(text):.2f}", text


@given(st.dates())
def test_a_date_in_a_batch_document_is_its_isoformat(day: date) -> None:
    """`_json` leaves dates to orjson (the journal's and the balances' documents): it must
    write what `isoformat` wrote there before (checked once over the whole calendar, 1-9999)."""
    assert _json([day]) == f'["{day.isoformat()}"]'
