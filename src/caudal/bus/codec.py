"""How messages are laid out in storage: JSON encoding and the partition of a key."""

from __future__ import annotations

import zlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # money travels as a string: never through float
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """JSON text; Decimal as a string, datetimes as ISO 8601."""
    return orjson.dumps(value, default=_default).decode()


def loads(raw: str | bytes) -> Any:
    return orjson.loads(raw)


def partition_of(key: str, partitions: int) -> int:
    """Stable across processes and versions (never Python's randomised `hash`)."""
    return zlib.crc32(key.encode()) % partitions
