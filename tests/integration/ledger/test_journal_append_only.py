"""The journal is append-only: the application role may not rewrite or remove a posted
transaction, and a trigger refuses it even to the owner (as for the audit log)."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from caudal.platform.bootstrap import Container

INSERT = (
    "INSERT INTO ledger.transaction (branch, account, amount, debitcredit, eventcode, tracekey,"
    " dateref) VALUES ('0001', '12345-6', 10.00, 'C', 1, %s, current_date) RETURNING id"
)


def test_no_role_can_update_or_delete_a_journal_row(container: Container) -> None:
    with psycopg.connect(container.app_url) as conn:
        row = conn.execute(INSERT, (uuid.uuid4(),)).fetchone()
    assert row is not None
    for url in (container.app_url, container.owner_url):
        for statement in (
            "UPDATE ledger.transaction SET amount = 1 WHERE id = %s",
            "DELETE FROM ledger.transaction WHERE id = %s",
        ):
            with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement, (row[0],))
    with (
        psycopg.connect(container.owner_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("TRUNCATE ledger.transaction CASCADE")
    with psycopg.connect(container.owner_url) as conn:
        kept = conn.execute("SELECT amount FROM ledger.transaction WHERE id = %s", (row[0],))
        assert kept.fetchone() == (10,)
