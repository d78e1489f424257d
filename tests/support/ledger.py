"""The ledger seen from outside in the e2e tests: the seed impacts (balances 8, 9, 8, -2, 12 on
one account and day), and how to wait for them to post and read the statement's balances."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

SEED_MOVES = (("C", "8"), ("C", "1"), ("D", "1"), ("D", "10"), ("C", "14"))
SEED_BALANCES = ["8.00", "9.00", "8.00", "-2.00", "12.00"]


def seed_impacts(account: str, day: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The trace keys and the bodies of the seed impacts on branch 0001, `account`, `day`."""
    keys = [str(uuid.uuid4()) for _ in SEED_MOVES]
    impacts = [
        {
            "tracekey": key,
            "branch": "0001",
            "account": account,
            "amount": amount,
            "debitcredit": side,
            "eventcode": 5,
            "dateref": day,
        }
        for key, (side, amount) in zip(keys, SEED_MOVES, strict=True)
    ]
    return keys, impacts


def wait_posted(http: httpx.Client, keys: list[str], seconds: float = 60) -> list[str]:
    """Poll the impacts until all are posted (or the time is up); their last statuses."""
    deadline = time.monotonic() + seconds
    while True:
        states = [http.get(f"/v1/ledger/impacts/{k}").json()["status"] for k in keys]
        if all(s == "posted" for s in states) or time.monotonic() >= deadline:
            return states
        time.sleep(0.2)


def statement_balances(http: httpx.Client, account: str, day: str) -> list[str]:
    statement = http.get(f"/v1/ledger/accounts/0001/{account}/statement?from={day}&to={day}")
    return [i["balance"] for i in statement.json()["items"]]
