"""The webhook's signature and idempotency key, as a receiver checks them."""

from __future__ import annotations

from datetime import UTC, datetime

from caudal.events.model import CanonicalEvent
from caudal.events.sinks.webhook import batch_id, sign, verify_signature

SECRET = "s3cret"


def test_a_signature_binds_the_timestamp_and_the_body() -> None:
    body = b'{"batch_id":"x","events":[]}'
    header = sign(SECRET, 1_800_000_000, body)
    assert header.startswith("t=1800000000,v1=")
    assert verify_signature(SECRET, body, header, now=1_800_000_100)
    assert not verify_signature(SECRET, body, header, now=1_800_000_400)  # too old: replayed
    assert not verify_signature(SECRET, body.replace(b"x", b"y"), header, now=1_800_000_000)
    forged = header.replace("t=1800000000", "t=1800000300")
    assert not verify_signature(SECRET, body, forged, now=1_800_000_300)
    assert not verify_signature(SECRET, body, "garbage", now=1_800_000_000)


def test_the_idempotency_key_depends_only_on_which_events_are_in_the_batch() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    a = CanonicalEvent("ledger", "ledger.posted", "1", at, at, {}, id="a")
    b = CanonicalEvent("ledger", "ledger.posted", "1", at, at, {}, id="b")
    assert batch_id([a, b]) == batch_id([b, a])
    assert batch_id([a]) != batch_id([a, b])
    assert batch_id([a]).startswith("whb_")
