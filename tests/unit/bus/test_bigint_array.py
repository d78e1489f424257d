"""`fetch_messages` names its positions as one `bigint[]` text literal."""

from __future__ import annotations

from caudal.bus.postgres_consumer import bigint_array


def test_the_literal_postgresql_reads_as_the_same_numbers() -> None:
    assert bigint_array([]) == "{}"
    assert bigint_array([1, 42, 9_223_372_036_854_775_807]) == "{1,42,9223372036854775807}"
