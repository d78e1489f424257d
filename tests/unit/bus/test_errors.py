"""The retry policy every bus adapter shares (bus/errors.py): which handler errors are permanent
(dead-lettered at once) and which are transient (retried with backoff)."""

from __future__ import annotations

import orjson
import psycopg
import pytest
from psycopg import errors as pg

from caudal.bus.errors import (
    Decision,
    Kind,
    PermanentError,
    TransientError,
    after_batch_failure,
    after_failure,
    classify,
)


def undecodable() -> BaseException:
    try:
        orjson.loads(b"{not json")
    except orjson.JSONDecodeError as exc:
        return exc
    raise AssertionError("decoded")


def wrapped(cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except Exception as exc:
            raise RuntimeError("posting failed") from exc
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    "exc",
    [
        pg.NumericValueOutOfRange("numeric field overflow"),
        pg.InvalidTextRepresentation("invalid input syntax for type numeric"),
        pg.CheckViolation("new row violates check constraint"),
        pg.ForeignKeyViolation("insert or update violates foreign key constraint"),
        pg.NotNullViolation("null value in column"),
        pg.UniqueViolation("duplicate key value"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        undecodable(),
        PermanentError("bad record"),
        wrapped(pg.NumericValueOutOfRange("numeric field overflow")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_that_recur_on_every_retry_are_permanent(exc: BaseException) -> None:
    assert classify(exc) is Kind.PERMANENT


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.OperationalError("server closed the connection unexpectedly"),
        pg.SerializationFailure("could not serialize access"),
        pg.DeadlockDetected("deadlock detected"),
        pg.QueryCanceled("canceling statement due to statement timeout"),
        pg.AdminShutdown("terminating connection due to administrator command"),
        TimeoutError(),
        ConnectionError("receiver down"),
        TransientError("try later"),
        ValueError("nobody classified this"),
        wrapped(pg.SerializationFailure("could not serialize access")),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_that_may_pass_on_a_retry_are_transient(exc: BaseException) -> None:
    assert classify(exc) is Kind.TRANSIENT


def test_a_permanent_failure_is_dead_lettered_on_its_first_attempt() -> None:
    overflow = pg.NumericValueOutOfRange("numeric field overflow")
    assert after_failure(overflow, 1, max_attempts=8, base=0.5, cap=60) == Decision(
        dead_letter=True, kind=Kind.PERMANENT
    )
    assert after_batch_failure(overflow, 1, base=0.5, cap=60) == 0.0


def test_a_transient_failure_backs_off_until_the_last_attempt() -> None:
    lost = psycopg.OperationalError("connection lost")
    delays = [after_failure(lost, n, max_attempts=5, base=0.5, cap=3).delay for n in range(1, 5)]
    assert delays == [0.5, 1.0, 2.0, 3.0]
    assert after_failure(lost, 5, max_attempts=5, base=0.5, cap=3).dead_letter
    assert after_batch_failure(lost, 2, base=0.5, cap=60) == 1.0
