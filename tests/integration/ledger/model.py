"""A deliberately simple in-memory ledger: the oracle the property tests compare against."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal


class Model:
    def __init__(self) -> None:
        self.days: dict[tuple[str, str], dict[date, list[Decimal]]] = defaultdict(
            lambda: defaultdict(lambda: [Decimal("0.00"), Decimal("0.00")])
        )
        self.seen: set[str] = set()

    def post(
        self, tracekey: str, branch: str, account: str, day: date, side: str, amount: str
    ) -> None:
        if tracekey in self.seen:
            return
        self.seen.add(tracekey)
        self.days[(branch, account)][day][0 if side == "D" else 1] += Decimal(amount)

    def balances(self) -> dict[tuple[str, str, date], tuple[Decimal, Decimal, Decimal, Decimal]]:
        """(branch, account, day) -> (day debit, day credit, acc. debit, acc. credit)."""
        out = {}
        for (branch, account), days in self.days.items():
            acc_d = acc_c = Decimal("0.00")
            for day in sorted(days):
                d, c = days[day]
                acc_d += d
                acc_c += c
                out[(branch, account, day)] = (d, c, acc_d, acc_c)
        return out


async def stored_balances(conn: object) -> dict[tuple[str, str, date], tuple[Decimal, ...]]:
    import psycopg

    assert isinstance(conn, psycopg.AsyncConnection)
    cur = await conn.execute(
        "SELECT branch, account, dateref, totaldebit, totalcredit, acumulateddebit,"
        " acumulatedcredit FROM ledger.balance"
    )
    return {(r[0], r[1], r[2]): tuple(r[3:]) for r in await cur.fetchall()}
