"""The intake stores each accepted impact exactly as accepted (its batch is one JSON document)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from psycopg.rows import dict_row

from caudal.ledger.intake import Intake
from caudal.ledger.validation import Rules
from caudal.platform.bootstrap import Container
from tests.integration.ledger.conftest import today


async def test_accepted_impacts_are_stored_as_accepted(
    intake: Intake, opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    raws = [
        make_impact(amount="0.01", debitcredit="D", description=""),
        make_impact(amount="9999999999999.99", eventcode="7", description='"quoted" \\ ção ✓'),
        make_impact(
            amount=12.5,
            details={"nested": {"list": [1, "two", None, 3.25]}, "emoji": "🙂"},
            dateref=(today() - timedelta(days=3)).isoformat(),
        ),
        make_impact(details=None, description=None, dateref=f"{today()}T23:59:59+00:00"),
    ]
    results = await intake.accept(raws, Rules(today=today(), backdate_days=7), "tests")
    assert [r.status for r in results] == ["pending"] * 4
    async with opened.database.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT tracekey::text, branch, account, amount, debitcredit, eventcode, description,"
            " details, dateref, subject, fingerprint, transaction_id::text FROM ledger.impact"
            " WHERE tracekey = ANY(%s::uuid[])",
            ([r["tracekey"] for r in raws],),
        )
        stored = {row["tracekey"]: row for row in await cur.fetchall()}
    expected = [
        (Decimal("0.01"), "D", 5, "", {"origin": "tests"}, today()),
        (Decimal("9999999999999.99"), "C", 7, '"quoted" \\ ção ✓', {"origin": "tests"}, today()),
        (
            Decimal("12.50"),
            "C",
            5,
            "test",
            {"nested": {"list": [1, "two", None, 3.25]}, "emoji": "🙂"},
            today() - timedelta(days=3),
        ),
        (Decimal("10.00"), "C", 5, "", {}, today()),
    ]
    for raw, result, (amount, side, code, description, details, dateref) in zip(
        raws, results, expected, strict=True
    ):
        row = stored[raw["tracekey"]]
        assert (row["branch"], row["account"], row["subject"]) == ("0001", "000000001", "tests")
        assert (row["amount"], row["debitcredit"], row["eventcode"]) == (amount, side, code)
        assert (row["description"], row["details"], row["dateref"]) == (
            description,
            details,
            dateref,
        )
        assert result.state is not None
        assert row["fingerprint"] == result.state.fingerprint
        assert row["transaction_id"] == result.state.reserved_id
