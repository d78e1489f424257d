"""Opaque keyset cursors over (timestamp, id), newest first."""

from __future__ import annotations

import base64
from datetime import datetime

from caudal.platform.errors import validation_error


def encode(at: datetime, id_: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{id_}".encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, id_ = raw.split("|", 1)
        return datetime.fromisoformat(at), id_
    except (ValueError, UnicodeDecodeError):
        raise validation_error(
            "cursor", "CAU-EVT-CURSOR", "cursor is not one this API returned"
        ) from None
