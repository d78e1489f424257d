"""Pure pieces of the bus: partitions, backoff, JSON encoding of money and time."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from caudal.bus.codec import dumps, loads, partition_of
from caudal.bus.errors import backoff_seconds


def test_a_key_always_lands_on_the_same_partition() -> None:
    # crc32-based: stable across processes and releases (Python's hash() is not).
    assert partition_of("customer-42", 16) == partition_of("customer-42", 16)
    assert partition_of("customer-42", 16) == 5
    spread = {partition_of(f"k{i}", 8) for i in range(200)}
    assert spread == set(range(8))


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_seconds(n, 0.5, 5.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_money_travels_as_a_string_and_time_as_iso_8601() -> None:
    text = dumps({"amount": Decimal("1234.50"), "at": datetime(2020, 10, 12, 23, 1, tzinfo=UTC)})
    assert loads(text) == {"amount": "1234.50", "at": "2020-10-12T23:01:00+00:00"}
