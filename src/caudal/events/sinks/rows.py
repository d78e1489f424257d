"""Canonical events as one JSON document of rows, the shape the realtime sink writes in bulk.

One `orjson.dumps` of the whole batch (in C): psycopg's array parameters cost a Python loop per
element, which was most of a bulk insert's CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

from caudal.bus.codec import dumps
from caudal.events.model import CanonicalEvent


def json_rows(events: Sequence[CanonicalEvent]) -> str:
    """[id, source, type, version, occurred_at, received_at, trace_key, platform, device_id,
    data] per event."""
    rows = []
    for e in events:
        device = e.device or {}
        platform, device_id = device.get("platform"), device.get("deviceId")
        rows.append(
            [
                e.id,
                e.source,
                e.type,
                e.version,
                e.occurred_at,
                e.received_at,
                e.trace_key,
                None if platform is None else str(platform),
                None if device_id is None else str(device_id),
                e.data,
            ]
        )
    return dumps(rows)
