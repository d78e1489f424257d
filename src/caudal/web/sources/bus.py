"""Lag per consumer group, dead letters and the outbox backlog, from the bus's admin port
(in-process, as `caudal bus status` reads them).

A dead letter's payload is never shown: backend events may carry a CPF. The page shows where it
failed (group, topic, offset), how often, and the last error.

The outbox (NATS bus) holds messages committed with a domain write until the relay forwards them
to JetStream: a backlog that only grows means nobody receives them (NATS away, no worker), so
past `CAUDAL_WEB__OUTBOX_WARN_SECONDS` of age the overview says so.
"""

from __future__ import annotations

from typing import Any

from caudal.bus.outbox import HasOutbox
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


async def outbox(reader: Reader) -> Section:
    """The outbox's backlog (messages, oldest age) and whether it is past the warning age; `None`
    for a bus without an outbox (PostgreSQL: a publish is in the log when its transaction
    commits)."""
    if not reader.session.has(scopes.MONITOR_READ):
        return Section.forbidden(scopes.MONITOR_READ)
    container: Any = reader.app.state.container
    bus = getattr(container, "bus", None)
    if not isinstance(bus, HasOutbox):
        return Section.of(None)
    try:
        backlog = await bus.outbox_backlog()
    except DatabaseUnavailable:
        return Section.error("Outbox: the database is unavailable; retrying")
    warn_after = float(container.settings.web.outbox_warn_seconds)
    age = round(backlog.oldest_age_s, 1)
    warning = backlog.messages > 0 and age > warn_after
    return Section.of(
        {
            "messages": backlog.messages,
            "oldest_age_seconds": age,
            "warn_after_seconds": warn_after,
            "warning": warning,
            "text": _outbox_text(backlog.messages, age, warn_after, warning),
        }
    )


def _outbox_text(messages: int, age: float, warn_after: float, warning: bool) -> str:
    """The line the overview shows (rendered first by the page, then by the live stream)."""
    if not messages:
        return "Outbox: empty (every committed message is in JetStream)."
    text = (
        f"Outbox: {messages} committed message(s) waiting for the relay (oldest {_duration(age)})."
    )
    if warning:
        text += (
            f" Older than {_duration(warn_after)}: the relay is not forwarding;"
            " check that NATS is reachable and a `caudal worker` (or `caudal up`) runs."
        )
    return text


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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
