"""Canonical events as one JSON document, the shape the realtime sink writes in bulk.

The events themselves, encoded by msgspec in C (a JSON array of objects with the event's
fields: `id`, `source`, `type`, `version`, `occurred_at`, `received_at`, `trace_key`, `device`,
`data`); the statement picks the columns out of each object (`realtime_write`). No Python loop
per event: building a row list per event was most of this document's cost, and psycopg's array
parameters cost a Python loop per element.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from caudal.events.model import CanonicalEvent

_ENCODER = msgspec.json.Encoder()


def json_rows(events: Sequence[CanonicalEvent]) -> str:
    """The events as a JSON array of their fields (datetimes in RFC 3339)."""
    return _ENCODER.encode(events).decode()
