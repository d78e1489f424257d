"""Lag per consumer group and dead letters, from the bus's admin port (in-process).

A dead letter's payload is never shown: backend events may carry a CPF. The page shows where it
failed (group, topic, offset), how often, and the last error.
"""

from __future__ import annotations

from typing import Any

from caudal.platform import scopes
from caudal.platform.db.pool import DatabaseUnavailable
from caudal.web.section import Section
from caudal.web.sources.fetch import Reader

DEAD_LETTER_LIMIT = 100


def _admin(reader: Reader) -> Any:
    container: Any = reader.app.state.container
    bus = getattr(container, "bus", None)
    if bus is None or not all(hasattr(bus, m) for m in ("status", "dead_letters", "redrive")):
        return None
    return bus


async def lag(reader: Reader) -> Section:
    if not reader.session.has(scopes.MONITOR_READ):
        return Section.forbidden(scopes.MONITOR_READ)
    admin = _admin(reader)
    if admin is None:
        return Section.unavailable("Bus lag")
    try:
        groups = await admin.status()
    except DatabaseUnavailable:
        return Section.error("Bus lag: the database is unavailable; retrying")
    return Section.of(
        [
            {
                "group": g.group,
                "lag": g.lag,
                "dead_letters": g.dead_letters,
                "members": g.members,
                "last_error": g.last_error,
            }
            for g in groups
        ]
    )


async def dead_letters(reader: Reader) -> Section:
    if not reader.session.has(scopes.MONITOR_READ):
        return Section.forbidden(scopes.MONITOR_READ)
    admin = _admin(reader)
    if admin is None:
        return Section.unavailable("Dead letters")
    try:
        found = await admin.dead_letters(None, DEAD_LETTER_LIMIT)
    except DatabaseUnavailable:
        return Section.error("Dead letters: the database is unavailable; retrying")
    rows = [
        {
            "id": d.id,
            "group": d.group,
            "topic": d.message.topic,
            "offset": d.offset,
            "message_id": str(d.message.id),
            "attempts": d.attempts,
            "last_error": d.last_error,
            "failed_at": d.failed_at.isoformat(),
            "redrive_requested": d.redrive_requested,
        }
        for d in found
    ]
    return Section.of({"rows": rows, "count": len(rows)})


async def redrive(reader: Reader) -> Section:
    if not reader.session.has(scopes.ADMIN):
        return Section.forbidden(scopes.ADMIN)
    admin = _admin(reader)
    if admin is None:
        return Section.unavailable("Re-driving dead letters")
    return Section.of(await admin.redrive(None, ()))
