"""Reconciliation: finds every difference between stored balances and the journal, fixes them
under the posting lock, records its runs; the CLI and the nightly scheduler."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from caudal.ledger import validation
from caudal.ledger.engine import Posting, PostingEngine
from caudal.ledger.reconcile import Reconciler
from caudal.ledger.scheduler import ReconcileScheduler
from caudal.platform.bootstrap import Container
from tests.integration.ledger.conftest import today


def posting(raw: dict[str, Any]) -> Posting:
    fields, errors = validation.check_shape(raw)
    assert fields is not None, errors
    return Posting(validation.build(fields), str(uuid.uuid4()))


async def _post_some(engine: PostingEngine, make_impact: Callable[..., dict[str, Any]]) -> None:
    t = today()
    await engine.post(
        [
            posting(make_impact(account=a, amount=amt, dateref=(t - timedelta(days=d)).isoformat()))
            for a, amt, d in (("A", "10", 3), ("A", "5", 1), ("B", "7", 2), ("B", "1", 0))
        ]
    )


async def test_differences_are_found_and_fixed(
    engine: PostingEngine, opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    await _post_some(engine, make_impact)
    reconciler = Reconciler(opened.database)
    assert await reconciler.differences() == []
    t = today()
    with psycopg.connect(opened.owner_url, autocommit=True) as owner:
        owner.execute(
            "UPDATE ledger.balance SET acumulatedcredit = acumulatedcredit + 1"
            " WHERE account = 'A' AND dateref = %s",
            (t - timedelta(days=1),),
        )
        owner.execute("DELETE FROM ledger.balance WHERE account = 'B' AND dateref = %s", (t,))
        owner.execute(
            "INSERT INTO ledger.balance (branch, account, dateref, totalcredit, acumulatedcredit)"
            " VALUES ('0001', 'C', %s, 3, 3)",
            (t,),
        )
    found = await reconciler.differences()
    assert [(d.account, d.dateref) for d in found] == [
        ("A", t - timedelta(days=1)),
        ("B", t),
        ("C", t),
    ]
    a, b, c = found
    assert a.expected is not None and a.actual is not None
    assert a.actual[3] - a.expected[3] == 1
    assert b.actual is None and c.expected is None
    only_old = await reconciler.differences(date_to=t - timedelta(days=1))
    assert [d.account for d in only_old] == ["A"]
    report = await reconciler.run(fix=True)
    assert (len(report.differences), report.fixed, report.remaining) == (3, True, 0)
    assert await reconciler.differences() == []
    # postings after a fix land on the rewritten rows
    await engine.post([posting(make_impact(account="A", amount="2"))])
    assert await reconciler.differences() == []
    async with opened.database.connection() as conn:
        cur = await conn.execute("SELECT differences, fixed FROM ledger.reconciliation ORDER BY id")
        assert await cur.fetchall() == [(3, True)]


async def test_scheduler_reconciles(
    engine: PostingEngine, opened: Container, make_impact: Callable[..., dict[str, Any]]
) -> None:
    await _post_some(engine, make_impact)
    report = await ReconcileScheduler(opened.database, "30 3 * * *").fire()
    assert report is not None and report.differences == []


def _cli(database_url: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`caudal ...` in a subprocess, as a user runs it (its logging is its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUDAL_")}
    env.update(CAUDAL_DATABASE_URL=database_url, CAUDAL_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "caudal", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_reconcile(database_url: str, tmp_path: Path) -> None:
    clean = _cli(database_url, tmp_path, "ledger", "reconcile")
    assert clean.returncode == 0, clean.stderr
    assert "0 difference(s)" in clean.stdout
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute(
            "INSERT INTO ledger.balance (branch, account, dateref, totalcredit, acumulatedcredit)"
            " VALUES ('0001', 'X', '2024-01-02', 3, 3)"
        )
    dirty = _cli(database_url, tmp_path, "ledger", "reconcile", "--from", "2024-01-01")
    assert dirty.returncode == 1
    assert "1 difference(s)" in dirty.stdout
    assert "caudal ledger reconcile --fix" in dirty.stderr
    fixed = _cli(database_url, tmp_path, "ledger", "reconcile", "--fix")
    assert fixed.returncode == 0 and "fixed, 0 remaining" in fixed.stdout
    bad = _cli(database_url, tmp_path, "ledger", "reconcile", "--from", "yesterday")
    assert bad.returncode == 2
