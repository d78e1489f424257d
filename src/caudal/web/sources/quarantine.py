"""Quarantined events (kept with their reason), their payloads revealed one at a time, replay and
discard, from the events capability.

A reveal goes through `GET /v1/quarantine/{id}/payload` with the session's token, so the API's
scope check, its redaction of personal values (`[redacted]`) and its audit record
(`quarantine_revealed` under the session's subject, on the `caudal.audit` logger) apply to the
dashboard exactly as to any API client."""

from __future__ import annotations

from typing import Any

from caudal.platform import scopes
from caudal.web.section import Section
from caudal.web.sources.fetch import Reader
from caudal.web.sources.shapes import items, next_cursor

LIST = "/v1/quarantine"
ENTRY = "/v1/quarantine/{entry_id}"
PAYLOAD = "/v1/quarantine/{entry_id}/payload"
SHREDDED = "CAU-EVT-QUARANTINE-SHREDDED"
COUNT_LIMIT = 500


async def quarantined(reader: Reader, filters: dict[str, str]) -> Section:
    section = await reader.get("Quarantine", scopes.EVENTS_READ, LIST, **filters)
    if not section.ok:
        return section
    return Section.of({"rows": items(section.value), "next": next_cursor(section.value)})


async def count(reader: Reader) -> Section:
    """Pending entries, counted up to 500 ("500+" beyond: the overview needs no exact figure)."""
    section = await reader.get("Quarantine", scopes.EVENTS_READ, LIST, limit=COUNT_LIMIT)
    if not section.ok:
        return section
    held = len(items(section.value))
    return Section.of(f"{held}+" if next_cursor(section.value) else held)


async def reveal(reader: Reader, entry_id: str) -> Section:
    """One entry's payload as the API shows it (`{"payload": ...}`), `{"shredded": ...}` once its
    day key was destroyed at the TTL (410), or no value for an entry that is not there (404)."""
    if not reader.session.has(scopes.EVENTS_READ):
        return Section.forbidden(scopes.EVENTS_READ)
    if not reader.has(PAYLOAD):
        return Section.unavailable("Revealing quarantined payloads")
    result = await reader.api.get(f"{LIST}/{entry_id}/payload")
    if result.status == 403:
        return Section.forbidden(scopes.EVENTS_READ)
    if result.status == 404:
        return Section("ok", None, "No such quarantine entry: it was discarded, or never held.")
    if result.status == 410:
        return Section.of({"shredded": True, "code": SHREDDED, "detail": result.detail})
    if not result.ok or not isinstance(result.body, dict):
        return Section.error(f"Not revealed: {result.detail}")
    return Section.of({"shredded": False, "payload": result.body.get("payload")})


async def replay(reader: Reader, event_type: str | None) -> Section:
    """Re-validate pending entries against today's schemas and publish those that now pass.

    The events capability offers replay as a function (and `caudal quarantine replay`), not a
    route, so it is called in-process with this process's bus and schema catalog.
    """
    if not reader.session.has(scopes.EVENTS_WRITE):
        return Section.forbidden(scopes.EVENTS_WRITE)
    try:
        from caudal.events.quarantine import replay_in
    except ImportError:
        return Section.unavailable("Replaying quarantined events")
    container: Any = reader.app.state.container
    report = await replay_in(container, event_type)
    return Section.of({"replayed": len(report.replayed), "still_invalid": report.still_invalid})


async def discard(reader: Reader, entry_id: str) -> Section:
    """Discard one held entry for good (`DELETE /v1/quarantine/{id}`, audited by the API)."""
    if not reader.session.has(scopes.EVENTS_WRITE):
        return Section.forbidden(scopes.EVENTS_WRITE)
    if not reader.has(ENTRY):
        return Section.unavailable("Discarding quarantined events")
    result = await reader.api.request("DELETE", f"{LIST}/{entry_id}")
    if result.status == 403:
        return Section.forbidden(scopes.EVENTS_WRITE)
    if result.status == 404:  # already discarded or replayed: nothing left to do
        return Section.of(None)
    if not result.ok:
        return Section.error(f"Not discarded: {result.detail}")
    return Section.of(entry_id)
