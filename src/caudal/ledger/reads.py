"""Reads: balances, statements with running balances, the consolidated daily report.

Plain MVCC reads: they never wait on the posting engine's locks.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from psycopg.rows import class_row

from caudal.ledger.queries import q
from caudal.platform.db.pool import Database
from caudal.platform.db.rows import fetch_value

ZERO = Decimal("0.00")


class BadCursor(ValueError):
    pass


def encode_cursor(values: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise BadCursor(cursor) from exc
    if not isinstance(value, dict):
        raise BadCursor(cursor)
    return value


STATEMENT_COLUMNS = (
    "dateref",
    "eventcode",
    "eventdescription",
    "description",
    "debitcredit",
    "amount",
    "balance",
    "tracekey",
    "id",
    "createdat",
)


def money(value: Decimal) -> str:
    return f"{value:.2f}"


@dataclass(frozen=True)
class Balance:
    branch: str
    account: str
    day: date
    totaldebit: Decimal
    totalcredit: Decimal
    acumulateddebit: Decimal
    acumulatedcredit: Decimal
    last_dateref: date | None
    updatedat: datetime | None

    @property
    def balance(self) -> Decimal:
        return self.acumulatedcredit - self.acumulateddebit

    def as_dict(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "account": self.account,
            "date": self.day.isoformat(),
            "totaldebit": money(self.totaldebit),
            "totalcredit": money(self.totalcredit),
            "acumulateddebit": money(self.acumulateddebit),
            "acumulatedcredit": money(self.acumulatedcredit),
            "balance": money(self.balance),
            "last_movement_date": self.last_dateref.isoformat() if self.last_dateref else None,
        }


@dataclass
class StatementPage:
    branch: str
    account: str
    date_from: date
    date_to: date
    opening_balance: Decimal
    items: list[dict[str, Any]]
    next_cursor: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "account": self.account,
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "opening_balance": money(self.opening_balance),
            "items": self.items,
            "next_cursor": self.next_cursor,
        }


CONSOLIDATED_COLUMNS = (
    "branch",
    "account",
    "date",
    "totaldebit",
    "totalcredit",
    "acumulateddebit",
    "acumulatedcredit",
    "balance",
    "last_movement_date",
)


@dataclass(frozen=True)
class ConsolidatedRow:
    """A row of `consolidated_page`: an account's latest balance row on or before the day."""

    branch: str
    account: str
    dateref: date
    totaldebit: Decimal
    totalcredit: Decimal
    acumulateddebit: Decimal
    acumulatedcredit: Decimal

    def item(self, day: date) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "account": self.account,
            "date": day.isoformat(),
            "totaldebit": money(self.totaldebit),
            "totalcredit": money(self.totalcredit),
            "acumulateddebit": money(self.acumulateddebit),
            "acumulatedcredit": money(self.acumulatedcredit),
            "balance": money(self.acumulatedcredit - self.acumulateddebit),
            "last_movement_date": self.dateref.isoformat(),
        }


@dataclass(frozen=True)
class LatestBalance:
    """A row of `balance_at` (all None: nothing on or before that date)."""

    dateref: date | None
    totaldebit: Decimal
    totalcredit: Decimal
    acumulateddebit: Decimal
    acumulatedcredit: Decimal
    updatedat: datetime | None


@dataclass(frozen=True)
class StatementRow:
    """A row of `statement_page`: an entry with the running balance after it."""

    id: str
    seq: int
    tracekey: str
    dateref: date
    eventcode: int
    eventdescription: str | None
    description: str | None
    debitcredit: str
    amount: Decimal
    details: Any
    createdat: datetime
    running: Decimal
    opening: Decimal

    def item(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tracekey": self.tracekey,
            "dateref": self.dateref.isoformat(),
            "eventcode": self.eventcode,
            "eventdescription": self.eventdescription,
            "description": self.description,
            "debitcredit": self.debitcredit,
            "amount": money(self.amount),
            "details": self.details,
            "createdat": self.createdat.isoformat(),
            "balance": money(self.running),
        }


class Reads:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def balance(self, branch: str, account: str, day: date) -> Balance | None:
        """None when the account never received an impact."""
        params = {"branch": branch, "account": account, "date": day}
        async with self.database.connection() as conn:
            cur = conn.cursor(row_factory=class_row(LatestBalance))
            row = await (await cur.execute(q("balance_at"), params)).fetchone()
        if row is None:
            return None
        if row.dateref is None:
            return Balance(branch, account, day, ZERO, ZERO, ZERO, ZERO, None, None)
        same_day = row.dateref == day
        return Balance(
            branch,
            account,
            day,
            row.totaldebit if same_day else ZERO,
            row.totalcredit if same_day else ZERO,
            row.acumulateddebit,
            row.acumulatedcredit,
            row.dateref,
            row.updatedat,
        )

    async def statement(
        self,
        branch: str,
        account: str,
        date_from: date,
        date_to: date,
        limit: int,
        cursor: str | None = None,
    ) -> StatementPage:
        start_date, after_seq = date_from, 0
        if cursor:
            position = decode_cursor(cursor)
            try:
                start_date = date.fromisoformat(str(position["d"]))
                after_seq = int(position["s"])
            except (KeyError, ValueError, TypeError) as exc:
                raise BadCursor(cursor) from exc
        params = {
            "branch": branch,
            "account": account,
            "start_date": start_date,
            "after_seq": after_seq,
            "to": date_to,
            "limit": limit + 1,
        }
        async with self.database.connection() as conn:
            page = conn.cursor(row_factory=class_row(StatementRow))
            rows = await (await page.execute(q("statement_page"), params)).fetchall()
            opening = await fetch_value(
                conn,
                q("opening_balance"),
                {"branch": branch, "account": account, "date": date_from},
            )
        more = len(rows) > limit
        rows = rows[:limit]
        items = [r.item() for r in rows]
        last = rows[-1] if more else None
        next_cursor = (
            encode_cursor({"d": last.dateref.isoformat(), "s": last.seq}) if last else None
        )
        return StatementPage(branch, account, date_from, date_to, opening, items, next_cursor)

    async def statement_all(
        self, branch: str, account: str, date_from: date, date_to: date, chunk: int = 5000
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every entry of the period, chunk by chunk (for CSV): no page limit."""
        cursor: str | None = None
        while True:
            page = await self.statement(branch, account, date_from, date_to, chunk, cursor)
            if page.items:
                yield page.items
            cursor = page.next_cursor
            if cursor is None:
                return

    async def consolidated(
        self, day: date, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        after = ("", "")
        if cursor:
            position = decode_cursor(cursor)
            try:
                after = (str(position["b"]), str(position["a"]))
            except KeyError as exc:
                raise BadCursor(cursor) from exc
        params = {"date": day, "after_branch": after[0], "after_account": after[1]}
        async with self.database.connection() as conn:
            cur = conn.cursor(row_factory=class_row(ConsolidatedRow))
            await cur.execute(q("consolidated_page"), {**params, "limit": limit + 1})
            rows = await cur.fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [r.item(day) for r in rows]
        last = rows[-1] if more else None
        next_cursor = encode_cursor({"b": last.branch, "a": last.account}) if last else None
        return items, next_cursor

    async def consolidated_all(
        self, day: date, chunk: int = 5000
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every row of the report, chunk by chunk (for CSV)."""
        cursor: str | None = None
        while True:
            items, cursor = await self.consolidated(day, chunk, cursor)
            if items:
                yield items
            if cursor is None:
                return
