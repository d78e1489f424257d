"""The erasure barrier: once a customer's erasure has committed, no sink writes (and no webhook
sends) a copy of an event that holds the customer's CPF token and was received before that
erasure, whatever the sink had fetched, held, cached, buffered or gets redelivered.

The erasure deletes the copies that exist when it runs (`events/erasure.py`, `bus/erasure.py`,
`lake_erasure.py`); this closes the other half, the copies still on their way: a lake delivery
lingering in memory, a message served from the PostgreSQL bus's cache or a held run after its
row was deleted, a batch fetched before the erasure and written after it, and every redelivery
or replay from NATS JetStream, whose stream keeps messages until they age out.

Why the event's `received_at`, not a watermark read before the fetch: a redelivered or cached
message is fetched (again) after the erasure, so a fetch-time watermark would let it through;
the time the intake received the event stays with the event on either bus. An event is dropped
when its data holds a token whose erasure committed after `received_at - MARGIN` (`MARGIN`
covers the clocks of the API hosts against PostgreSQL's; an event received within it after the
erasure, a straggler of the erased customer, is dropped too).

Mechanism (PostgreSQL adapter, `erasure_barrier_postgres.py`): the erasure first records
`(token, at)` in a short transaction of its own that takes an advisory lock exclusively, then
deletes the copies in later snapshots; every sink write takes the lock shared in the write's own
transaction and reads the tokens erased after its batch's oldest `received_at - MARGIN`, in a
snapshot taken after the lock is granted. So a write either commits before the record (and the
deletes remove it) or sees the record (and drops the event); writers wait only for the record,
never for the deletes' table scans. The common case costs one index probe that finds nothing,
inside a statement the sink runs anyway (realtime, quarantine) or as one tiny statement (lake,
Base C, webhook). A mass erasure (over 256 tokens within the window) is not handed to every
write: the gate answers "many" and the writer asks again by its batch's `windows`.
The lake's files are not transactional: its writers hold their bus
partitions' locks across this check and the file writes, and the erasure takes each of those
locks in turn after the deletes, then scans, so a file written meanwhile is scanned; it rewrites
each file under its partition's lock, so no delivery merges into a file being rewritten
(`lake_erasure.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import orjson

from caudal.events.model import CanonicalEvent

if TYPE_CHECKING:
    from caudal.platform.db.pool import AsyncConn

MARGIN = timedelta(minutes=5)
TOKEN_LENGTH = 64  # a CPF token: the blind index in lowercase hex
_HEX_RUN = re.compile(f"[0-9a-f]{{{TOKEN_LENGTH},}}")

Erased = Mapping[str, datetime]  # CPF token -> when its (last) erasure committed


class ErasedTokens(Protocol):
    async def since(
        self, conn: AsyncConn, since: datetime, among: Callable[[], Collection[str]]
    ) -> Erased:
        """The tokens erased after `since`, read under the barrier's shared lock, held to the
        end of `conn`'s transaction (the statement's, in autocommit). Empty in the common case.
        After a mass erasure, only those of `among` (the batch's candidate tokens, `windows`):
        each write then costs its own batch's lookups, not the whole erasure's."""


def horizon(events: Sequence[CanonicalEvent]) -> datetime:
    """The oldest erasure time that can concern this batch."""
    return min(e.received_at for e in events) - MARGIN


def holds_erased(event: CanonicalEvent, erased: Erased) -> bool:
    """Whether the event was received before the erasure of a token its data holds: anywhere in
    its data's text, as the erasure's deletes match. Looked up per 64-hex window of the data's
    hex runs, so a mass erasure (thousands of tokens at once) costs no more per event."""
    return any(erased_before(event, token, erased) for token in _windows(event))


def _windows(event: CanonicalEvent) -> Iterator[str]:
    text = orjson.dumps(event.data).decode()
    for run in _HEX_RUN.finditer(text):
        found = run.group()
        for start in range(len(found) - TOKEN_LENGTH + 1):
            yield found[start : start + TOKEN_LENGTH]


def windows(events: Sequence[CanonicalEvent]) -> set[str]:
    """Every token the batch's data could hold (what `holds_erased` looks up)."""
    return {token for event in events for token in _windows(event)}


def erased_before(event: CanonicalEvent, token: str, erased: Erased) -> bool:
    """Whether `token` was erased after the event was received (less the margin)."""
    at = erased.get(token)
    return at is not None and at > event.received_at - MARGIN


def kept(events: Sequence[CanonicalEvent], erased: Erased) -> Sequence[CanonicalEvent]:
    if not erased:
        return events
    return [e for e in events if not holds_erased(e, erased)]
