"""An account's balance and statement, and the consolidated day, from the ledger capability."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from caudal.platform import scopes
from caudal.web.section import Section
from caudal.web.sources.fetch import Reader

ACCOUNT = "/v1/ledger/accounts/{branch}/{account}"
PAGE = 1000  # the API's largest page by default
MAX_ROWS = 5000  # one screen of statement; the rest follows a cursor link


async def balance(reader: Reader, branch: str, account: str, day: str | None) -> Section:
    return await reader.get(
        "Balances",
        scopes.LEDGER_READ,
        f"/v1/ledger/accounts/{quote(branch, safe='')}/{quote(account, safe='')}/balance",
        route=ACCOUNT + "/balance",
        date=day,
    )


async def statement_page(
    reader: Reader,
    branch: str,
    account: str,
    period: tuple[str | None, str | None],
    cursor: str | None = None,
    limit: int = PAGE,
) -> Section:
    start, end = period
    return await reader.get(
        "Statements",
        scopes.LEDGER_READ,
        f"/v1/ledger/accounts/{quote(branch, safe='')}/{quote(account, safe='')}/statement",
        route=ACCOUNT + "/statement",
        **{"from": start, "to": end, "cursor": cursor, "limit": limit},
    )


def _largest_page(reader: Reader) -> int:
    settings = getattr(reader.app.state.container.settings, "ledger", None)
    return min(PAGE, int(getattr(settings, "max_page_size", PAGE)))


async def statement_pages(
    reader: Reader,
    branch: str,
    account: str,
    period: tuple[str | None, str | None],
    cursor: str | None = None,
    max_rows: int = MAX_ROWS,
) -> AsyncIterator[Section]:
    """The statement's pages from `cursor`, following `next_cursor` until the period's end or
    `max_rows` entries (the last page then carries the cursor to go on from)."""
    read = 0
    page = _largest_page(reader)
    while True:
        section = await statement_page(
            reader, branch, account, period, cursor, min(page, max_rows - read)
        )
        yield section
        body = section.value if section.ok and isinstance(section.value, dict) else {}
        read += len(body.get("items") or [])
        cursor = body.get("next_cursor")
        if not cursor or read >= max_rows:
            return


async def statement(
    reader: Reader,
    branch: str,
    account: str,
    period: tuple[str | None, str | None],
    cursor: str | None = None,
) -> Section:
    """Up to `MAX_ROWS` entries of the period in one body (`next_cursor` set when more follow)."""
    whole: dict[str, Any] | None = None
    async for section in statement_pages(reader, branch, account, period, cursor):
        if not section.ok or not isinstance(section.value, dict):
            return section
        if whole is None:
            whole = {**section.value, "items": list(section.value.get("items") or [])}
        else:
            whole["items"] += section.value.get("items") or []
        whole["next_cursor"] = section.value.get("next_cursor")
    return Section.of(whole)


async def consolidated(reader: Reader, day: str | None) -> Section:
    return await reader.get(
        "The consolidated day", scopes.LEDGER_READ, "/v1/ledger/consolidated", date=day
    )
