"""FlowApi JSON rendering (money as exact numbers, .NET date formats) and cursors."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest

from caudal.ledger.flowapi import render
from caudal.ledger.reads import BadCursor, decode_cursor, encode_cursor


def test_money_is_an_exact_json_number() -> None:
    body = render(
        [
            {
                "amount": Decimal("9999999999999.99"),
                "debit": Decimal("-1.5"),
                "dateRef": date(2024, 3, 16),
                "createdAt": datetime(2024, 3, 16, 14, 22, tzinfo=timezone(timedelta(hours=-3))),
                "details": '{"a": 1}',
                "eventCode": 5,
                "traceKey": None,
            }
        ]
    )
    assert body == (
        b'[{"amount":9999999999999.99,"debit":-1.50,"dateRef":"2024-03-16T00:00:00",'
        b'"createdAt":"2024-03-16T17:22:00Z","details":"{\\"a\\": 1}","eventCode":5,'
        b'"traceKey":null}]'
    )
    assert orjson.loads(body)[0]["amount"] == 9999999999999.99
    assert render([]) == b"[]"


def test_cursors_round_trip_and_reject_garbage() -> None:
    assert decode_cursor(encode_cursor({"d": "2024-03-16", "s": 42})) == {
        "d": "2024-03-16",
        "s": 42,
    }
    for bad in ("zzz", "!!!", encode_cursor({"d": 1})[:-2] + "$$"):
        with pytest.raises(BadCursor):
            decode_cursor(bad)
