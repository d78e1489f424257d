"""Named SQL files and the interval loop of background services."""

from __future__ import annotations

import asyncio

import pytest

from caudal.platform.db.queries import NamedQueries, parse
from caudal.platform.schedule import run_every


def test_statements_are_split_by_name_and_the_header_is_dropped() -> None:
    text = "-- the ledger's SQL\n\n-- name: one\nSELECT 1\n\n--name:two\nSELECT 2;\n"
    assert parse(text) == {"one": "SELECT 1", "two": "SELECT 2;"}


def test_a_name_used_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        parse("-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n")


def test_an_include_splices_a_fragment_without_its_leading_comments() -> None:
    text = (
        "-- name: both\nWITH x AS (\n    -- include: part\n    RETURNING 1\n) SELECT 2\n"
        "-- name: part\n-- what the part is for\nINSERT INTO t\nSELECT 1 -- kept\n"
    )
    assert (
        parse(text)["both"]
        == "WITH x AS (\nINSERT INTO t\nSELECT 1 -- kept\n    RETURNING 1\n) SELECT 2"
    )
    with pytest.raises(ValueError, match="names no query"):
        parse("-- name: a\n-- include: nope\n")
    with pytest.raises(ValueError, match="includes itself: a -> b -> a"):
        parse("-- name: a\n-- include: b\n-- name: b\n-- include: a\n")


def test_the_shipped_files_load_and_an_unknown_name_is_a_key_error() -> None:
    q = NamedQueries("caudal.ledger", "queries.sql")
    assert "FROM ledger.account a" in q("balance_at")
    with pytest.raises(KeyError):
        q("no_such_query")


async def test_a_failed_round_is_retried_and_stop_ends_the_loop() -> None:
    rounds: list[int] = []
    stop = asyncio.Event()

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("first round fails")
        if len(rounds) == 3:
            stop.set()

    await asyncio.wait_for(run_every(0.001, stop, work, "test_failed"), 5)
    assert rounds == [0, 1, 2]
