"""The impact rules as pure functions: shapes, formats, event codes, the back-dating window."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from caudal.ledger import validation as v
from caudal.ledger.model import EventCode, Impact, day_deltas

TODAY = date(2024, 3, 16)
RULES = v.Rules(today=TODAY, backdate_days=7)
EVENTS = {
    1: EventCode(1, True, "Sale", allowdebit=False, allowcredit=True),
    2: EventCode(2, False, "Old", allowdebit=True, allowcredit=True),
    5: EventCode(5, True, "Transfer", allowdebit=True, allowcredit=True),
}


def raw(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tracekey": "B5666143-0F9C-44F0-906E-C496C49AE4E1",
        "branch": "0001",
        "account": "000000001",
        "amount": "10.5",
        "debitcredit": "C",
        "eventcode": 5,
        "dateref": "2024-03-16",
    }
    body.update(overrides)
    return body


def codes(body: dict[str, Any]) -> list[str]:
    fields, errors = v.check_shape(body)
    if fields is None:
        return [e.code for e in errors]
    return [e.code for e in v.check_rules(fields, EVENTS, RULES)]


def test_a_valid_impact_is_normalised() -> None:
    fields, errors = v.check_shape(raw(details={"pdv": 1}))
    assert errors == [] and fields is not None
    impact = v.build(fields)
    assert impact.tracekey == "b5666143-0f9c-44f0-906e-c496c49ae4e1"
    assert impact.amount == Decimal("10.50") and impact.description == ""
    assert v.check_rules(fields, EVENTS, RULES) == []


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"debitcredit": "X"}, [v.DEBITCREDIT_INVALID]),
        ({"amount": 0}, [v.AMOUNT_NOT_POSITIVE]),
        ({"amount": "-0.01"}, [v.AMOUNT_NOT_POSITIVE]),
        ({"amount": 0.001}, [v.AMOUNT_SCALE]),
        ({"amount": "1e-3"}, [v.AMOUNT_INVALID]),  # one grammar: no exponent
        ({"amount": "１２"}, [v.AMOUNT_INVALID]),
        ({"amount": "1_000"}, [v.AMOUNT_INVALID]),
        ({"amount": " 1.00"}, [v.AMOUNT_INVALID]),
        ({"amount": "1E+2"}, [v.AMOUNT_INVALID]),
        ({"amount": "1" * 29}, [v.AMOUNT_INVALID]),
        ({"amount": 1e30}, [v.AMOUNT_INVALID]),
        ({"amount": 10**30}, [v.AMOUNT_INVALID]),
        ({"amount": "1" * 26}, [v.AMOUNT_TOO_LARGE]),
        ({"amount": True}, [v.AMOUNT_INVALID]),
        ({"amount": "NaN"}, [v.AMOUNT_INVALID]),
        ({"amount": "Infinity"}, [v.AMOUNT_INVALID]),
        ({"amount": "9999999999999.99"}, []),
        ({"amount": "10000000000000"}, [v.AMOUNT_TOO_LARGE]),
        ({"description": "é" * 200}, []),
        ({"description": "é" * 201}, [v.DESCRIPTION_TOO_LONG]),
        ({"details": ["a"]}, [v.DETAILS_NOT_OBJECT]),
        ({"tracekey": "123"}, [v.TRACEKEY_INVALID]),
        ({"eventcode": 1.5}, [v.EVENTCODE_INVALID]),
        ({"eventcode": True}, [v.EVENTCODE_INVALID]),
        ({"eventcode": "5"}, []),
        ({"eventcode": 3}, [v.EVENT_UNKNOWN]),
        ({"eventcode": 2}, [v.EVENT_INACTIVE]),
        ({"eventcode": 1, "debitcredit": "D"}, [v.EVENT_SIDE_NOT_ALLOWED]),
        ({"dateref": "2024-03-17"}, [v.DATEREF_FUTURE]),
        ({"dateref": "2024-03-09"}, []),
        ({"dateref": "2024-03-08"}, [v.DATEREF_TOO_OLD]),
        ({"dateref": "16/03/2024"}, [v.DATEREF_INVALID]),
        ({"dateref": "9999-12-31T23:00:00-14:00"}, [v.DATEREF_INVALID]),  # year 10000 in UTC
        ({"dateref": "2024-03-16T23:30:00-0300"}, [v.DATEREF_FUTURE]),  # 02:30 UTC on the 17th
        ({"dateref": "2024-03-16T20:01:14-0300"}, []),
        ({"branch": ""}, [v.REQUIRED]),
        ({"account": "a b"}, [v.ACCOUNT_INVALID]),
        ({"extra": 1}, [v.UNKNOWN_FIELD]),
    ],
)
def test_rules(overrides: dict[str, Any], expected: list[str]) -> None:
    assert codes(raw(**overrides)) == expected


def test_every_missing_field_is_reported() -> None:
    fields, errors = v.check_shape({})
    assert fields is None
    assert sorted(e.field for e in errors) == sorted(v.REQUIRED_FIELDS)
    assert {e.code for e in errors} == {v.REQUIRED}
    assert v.check_shape([])[1][0].code == v.NOT_OBJECT


def test_fingerprint_ignores_formatting_not_content() -> None:
    a = v.build(v.check_shape(raw(amount="10.5", details={"a": 1, "b": 2}))[0] or {})
    b = v.build(v.check_shape(raw(amount=10.50, details={"b": 2, "a": 1}))[0] or {})
    c = v.build(v.check_shape(raw(amount="10.51"))[0] or {})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert Impact.from_payload(a.to_payload()) == a


def test_posting_rejection_rechecks_the_event_code() -> None:
    impact = v.build(v.check_shape(raw(eventcode=2))[0] or {})
    assert v.posting_rejection(impact, EVENTS) == (v.EVENT_INACTIVE, "event code 2 is inactive")
    ok = v.build(v.check_shape(raw(dateref="2024-01-01"))[0] or {})
    assert v.posting_rejection(ok, EVENTS) is None  # the window is judged at acceptance only


def test_day_deltas_aggregate_per_account_and_day() -> None:
    d1, d2 = date(2024, 3, 15), date(2024, 3, 16)

    def impact(tracekey: str, account: str, day: date, side: str, amount: str) -> Impact:
        return Impact(tracekey, "1", account, Decimal(amount), "D" if side == "D" else "C", 5, day)

    deltas = day_deltas(
        [
            impact("k1", "B", d2, "C", "1.10"),
            impact("k2", "A", d2, "D", "2.00"),
            impact("k3", "A", d1, "C", "3.00"),
            impact("k4", "A", d2, "C", "0.05"),
        ]
    )
    assert [(d.account, d.dateref, d.debit, d.credit, d.tracekey) for d in deltas] == [
        ("A", d1, Decimal(0), Decimal("3.00"), "k3"),
        ("A", d2, Decimal("2.00"), Decimal("0.05"), "k2"),  # the day's first impact
        ("B", d2, Decimal(0), Decimal("1.10"), "k1"),
    ]


def test_every_error_is_listed_the_shape_s_and_the_rules_of_well_formed_fields() -> None:
    fields, errors = v.parse(raw(amount="1.234", eventcode=2, dateref="2024-01-01", color="red"))
    found = [e.code for e in errors + v.check_rules(fields, EVENTS, RULES)]
    assert found == [v.UNKNOWN_FIELD, v.AMOUNT_SCALE, v.EVENT_INACTIVE, v.DATEREF_TOO_OLD]
