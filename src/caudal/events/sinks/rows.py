"""Canonical events as column arrays, the shape the lake and realtime sinks write in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from caudal.events.model import CanonicalEvent


def columns(events: Sequence[CanonicalEvent]) -> dict[str, list[Any]]:
    platforms: list[str | None] = []
    devices: list[str | None] = []
    for event in events:
        device = event.device or {}
        platform, device_id = device.get("platform"), device.get("deviceId")
        platforms.append(str(platform) if platform is not None else None)
        devices.append(str(device_id) if device_id is not None else None)
    return {
        "ids": [e.id for e in events],
        "sources": [e.source for e in events],
        "types": [e.type for e in events],
        "versions": [e.version for e in events],
        "occurred": [e.occurred_at for e in events],
        "received": [e.received_at for e in events],
        "traces": [e.trace_key for e in events],
        "platforms": platforms,
        "devices": devices,
        "datas": [orjson.dumps(e.data).decode() for e in events],
    }
