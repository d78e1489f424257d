"""What a bus adapter does when a handler fails: retry later, or give the record up now.

A *permanent* failure recurs on every delivery of the same record (the data itself is wrong: a
numeric overflow, a check or foreign-key violation, a payload that does not decode), so retrying
only holds its partition back: the record goes to the dead letters at once. Anything else is
treated as *transient* (a lost connection, a serialization failure, a deadlock, a timeout, or an
error nobody classified) and is retried with exponential backoff until `max_attempts`. Every
adapter (PostgreSQL, NATS, in-memory) takes its decisions here, so they fail alike.

A handler that knows better raises `PermanentError` (or `TransientError`) itself, and a domain
that has its own rejection path (the ledger's `rejected` impacts) catches permanent errors
before they ever reach the bus.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

import psycopg

_ERROR_CHARS = 2000


class Kind(enum.Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


class PermanentError(Exception):
    """Raised by a handler: this record can never be handled; dead-letter it without retrying."""


class TransientError(Exception):
    """Raised by a handler: this may work later; retry with backoff."""


# Checked in order; the first match along the exception's cause chain decides.
_TRANSIENT: tuple[type[BaseException], ...] = (
    TransientError,
    psycopg.OperationalError,  # connection lost, SerializationFailure, DeadlockDetected,
    # QueryCanceled (statement_timeout), lock timeouts, too many connections, admin shutdown
    TimeoutError,
    ConnectionError,
)
_PERMANENT: tuple[type[BaseException], ...] = (
    PermanentError,
    psycopg.DataError,  # numeric overflow, invalid text representation, division by zero...
    psycopg.IntegrityError,  # check, not-null, foreign-key, unique violations
    UnicodeError,  # bytes that do not decode
    json.JSONDecodeError,  # orjson's JSONDecodeError derives from it too
)


def classify(exc: BaseException) -> Kind:
    """PERMANENT when `exc` (or what caused it) will recur on every retry; TRANSIENT otherwise."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _TRANSIENT):
            return Kind.TRANSIENT
        if isinstance(current, _PERMANENT):
            return Kind.PERMANENT
        current = current.__cause__ or current.__context__
    return Kind.TRANSIENT


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Delay before the next attempt after `attempt` failures: base, 2*base, 4*base ... cap."""
    return float(min(cap, base * (2 ** max(attempt - 1, 0))))


@dataclass(frozen=True, slots=True)
class Decision:
    """After one record failed: dead-letter it now, or deliver it again after `delay` seconds."""

    dead_letter: bool
    delay: float = 0.0
    kind: Kind = Kind.TRANSIENT


def after_failure(
    exc: BaseException, attempt: int, *, max_attempts: int, base: float, cap: float
) -> Decision:
    """The retry policy for one record that failed on its `attempt`-th delivery (from 1)."""
    kind = classify(exc)
    if kind is Kind.PERMANENT or attempt >= max_attempts:
        return Decision(dead_letter=True, kind=kind)
    return Decision(dead_letter=False, delay=backoff_seconds(attempt, base, cap), kind=kind)


def after_batch_failure(exc: BaseException, attempts: int, *, base: float, cap: float) -> float:
    """Delay before a failed batch is retried record by record (which record failed is not
    known yet): none for a permanent failure (the culprit is found and dead-lettered at once),
    the backoff otherwise."""
    if classify(exc) is Kind.PERMANENT:
        return 0.0
    return backoff_seconds(attempts, base, cap)


def describe(exc: BaseException) -> str:
    """The error as stored with a retry or a dead letter (bounded)."""
    return f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS]
