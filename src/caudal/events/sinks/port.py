"""The sink port: `routes.yaml` names sinks; each runs as its own consumer group on the bus."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from caudal.events.model import CanonicalEvent


class Sink(Protocol):
    name: str  # as written in routes.yaml, e.g. "lake", "realtime", "customers.activity"

    async def write(self, events: Sequence[CanonicalEvent]) -> None:
        """Deliver a batch. Idempotent on `event.id`: a redelivered batch changes nothing.
        Raise to have the batch retried (and dead-lettered after the configured attempts)."""
