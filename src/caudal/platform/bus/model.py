"""What travels on the bus. Plain data: no I/O library is imported here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Message:
    """One message to publish. `key` orders delivery (same key: same order); `id` deduplicates."""

    topic: str
    key: str
    payload: dict[str, Any]
    id: str = field(default_factory=new_id)
    headers: dict[str, str] = field(default_factory=dict)  # trace_key travels here


@dataclass(frozen=True, slots=True)
class Record:
    """A delivered message: its position in the log and how many times it was attempted."""

    message: Message
    offset: int
    attempt: int
    published_at: datetime


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """A consumer group as `caudal bus status` shows it."""

    group: str
    topics: tuple[str, ...]
    partitions: int
    owned: int  # partitions currently leased by a live worker
    members: int  # live workers
    lag: int  # messages published and not yet handled
    dead_letters: int  # not yet re-driven
    retrying: int  # partitions waiting to retry a failed delivery
    last_error: str | None
    oldest_pending_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message a group gave up on after its attempts, with the last error."""

    id: int
    group: str
    offset: int
    message: Message
    attempts: int
    last_error: str
    published_at: datetime
    failed_at: datetime
    redrive_requested: bool
