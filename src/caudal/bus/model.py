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
