"""Reconciliation (seed 003, "conferência de saldos"): recompute every balance from the journal
and list the differences; optionally rewrite the accounts that differ."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from caudal.ledger.queries import q
from caudal.ledger.reads import money
from caudal.platform.db.pool import Database
from caudal.platform.db.rows import fetch_all, fetch_value

Totals = tuple[Decimal, Decimal, Decimal, Decimal]  # day debit, day credit, acc. debit, acc. credit
FIX_CHUNK = 200


@dataclass(frozen=True)
class Difference:
    branch: str
    account: str
    dateref: date
    expected: Totals | None  # None: a balance row with no entry that day
    actual: Totals | None  # None: entries with no balance row

    def as_dict(self) -> dict[str, Any]:
        def side(t: Totals | None) -> dict[str, str] | None:
            if t is None:
                return None
            names = ("totaldebit", "totalcredit", "acumulateddebit", "acumulatedcredit")
            return {n: money(v) for n, v in zip(names, t, strict=True)}

        return {
            "branch": self.branch,
            "account": self.account,
            "dateref": self.dateref.isoformat(),
            "expected": side(self.expected),
            "actual": side(self.actual),
        }


@dataclass
class Report:
    differences: list[Difference]
    fixed: bool
    remaining: int  # differences left after fixing (0 when fixed)
    run_id: int


def _totals(row: dict[str, Any], side: str) -> Totals | None:
    """One side of a `reconcile_differences` row: `e_` expected (journal), `a_` actual."""
    if row[f"{side}totaldebit"] is None:
        return None
    return (
        row[f"{side}totaldebit"],
        row[f"{side}totalcredit"],
        row[f"{side}acumulateddebit"],
        row[f"{side}acumulatedcredit"],
    )


class Reconciler:
    def __init__(self, database: Database, limit: int = 100_000) -> None:
        self.database = database
        self.limit = limit

    async def differences(
        self, date_from: date | None = None, date_to: date | None = None
    ) -> list[Difference]:
        """In one read-only snapshot: journal and balances commit together, so any snapshot is
        consistent; takes no lock and never blocks the posting engine."""
        params = {"from": date_from, "to": date_to, "limit": self.limit}
        async with self.database.connection() as conn:
            await conn.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
            await conn.set_read_only(True)
            try:
                async with conn.transaction():
                    rows = await fetch_all(conn, q("reconcile_differences"), params, dict_row)
            finally:
                await conn.set_isolation_level(None)
                await conn.set_read_only(None)
        return [
            Difference(r["branch"], r["account"], r["dateref"], _totals(r, "e_"), _totals(r, "a_"))
            for r in rows
        ]

    async def fix(self, accounts: list[tuple[str, str]]) -> None:
        """Rewrite these accounts' balances from the journal, under the same account locks the
        posting engine takes (so a concurrent posting waits, then applies on top)."""
        ordered = sorted(set(accounts))
        for start in range(0, len(ordered), FIX_CHUNK):
            chunk = ordered[start : start + FIX_CHUNK]
            params = {"accounts": orjson.dumps(chunk).decode()}
            async with self.database.connection() as conn, conn.transaction():
                await conn.execute(q("accounts_ensure"), params)
                await conn.execute(q("accounts_lock"), params)
                await conn.execute(q("reconcile_rebuild"), params)
                await conn.execute(q("reconcile_delete_orphans"), params)

    async def run(
        self, date_from: date | None = None, date_to: date | None = None, fix: bool = False
    ) -> Report:
        started = datetime.now(UTC)
        found = await self.differences(date_from, date_to)
        remaining = len(found)
        if fix and found:
            await self.fix([(d.branch, d.account) for d in found])
            remaining = len(await self.differences(date_from, date_to))
        detail = orjson.dumps([d.as_dict() for d in found[:1000]]).decode()
        async with self.database.connection() as conn:
            run_id = await fetch_value(
                conn,
                q("reconcile_record"),
                {
                    "startedat": started,
                    "from": date_from,
                    "to": date_to,
                    "differences": len(found),
                    "fixed": fix and bool(found),
                    "detail": detail,
                },
            )
        assert run_id is not None
        return Report(found, fix and bool(found), remaining, int(run_id))
