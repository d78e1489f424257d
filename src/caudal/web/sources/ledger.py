"""An account's balance and statement, and the consolidated day, from the ledger capability."""

from __future__ import annotations

from caudal.platform import scopes
from caudal.web.section import Section
from caudal.web.sources.fetch import Reader

ACCOUNT = "/v1/ledger/accounts/{branch}/{account}"


async def balance(reader: Reader, branch: str, account: str, day: str | None) -> Section:
    return await reader.get(
        "Balances",
        scopes.LEDGER_READ,
        f"/v1/ledger/accounts/{branch}/{account}/balance",
        route=ACCOUNT + "/balance",
        date=day,
    )


async def statement(
    reader: Reader, branch: str, account: str, start: str | None, end: str | None
) -> Section:
    return await reader.get(
        "Statements",
        scopes.LEDGER_READ,
        f"/v1/ledger/accounts/{branch}/{account}/statement",
        route=ACCOUNT + "/statement",
        **{"from": start, "to": end},
    )


async def consolidated(reader: Reader, day: str | None) -> Section:
    return await reader.get(
        "The consolidated day", scopes.LEDGER_READ, "/v1/ledger/consolidated", date=day
    )
