"""Events Base A publishes on the bus (seed 001's flow): no PII, only the customer id and the
CPF blind index. Written in the caller's transaction (outbox), so a write and its event commit
together. The router sends them to the `customers.activity` sink (Base B and C handling)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from caudal.events.model import CanonicalEvent
from caudal.platform.bus.model import Message

SOURCE = "customers"
CREATED = "customers.created"
UPDATED = "customers.updated"
ERASED = "customers.erased"
SCORE_DATA_UPDATED = "customers.score-data-updated"
VERSION = "1"


def is_erasure_notice(event: CanonicalEvent) -> bool:
    """Base A's own `customers.erased`: by source as well as type, since a producer may register
    a schema of that type for `frontend`/`backend` events, and its events must erase nothing."""
    return event.type == ERASED and event.source == SOURCE


def customer_event(
    event_type: str,
    customer_id: str,
    cpf_index: bytes | None,
    trace_key: str | None,
    **extra: Any,
) -> Message:
    now = datetime.now(UTC)
    data: dict[str, Any] = {"customer_id": customer_id, **extra}
    if cpf_index is not None:
        data["cpf_index"] = cpf_index.hex()
    event = CanonicalEvent(
        source=SOURCE,
        type=event_type,
        version=VERSION,
        occurred_at=now,
        received_at=now,
        data=data,
        trace_key=trace_key,
    )
    return event.to_message(customer_id)
