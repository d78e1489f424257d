"""Erasing a customer's events from the events capability's tables, by the token they carry.

Events carry a CPF only as its keyed token (the blind index, hex; the intake replaces the CPF by
it), so a customer's copies are the rows whose data holds that token. Per-minute rollups hold
counts by source/type/platform only: nothing in them links to a customer. Quarantined payloads
are sealed: an entry is matched by the tokens stored beside it (any 64-hex string of the
payload), or on its text while it is still in clear, so an invalid event holding the token
anywhere goes too.
"""

from __future__ import annotations

# `position(t IN text)` over a bounded table (retention): an erasure is rare, a scan is fine.
DELETES = {
    "realtime": "DELETE FROM events.recent r WHERE EXISTS "
    "(SELECT 1 FROM unnest(%(tokens)s::text[]) t WHERE position(t IN r.data::text) > 0)",
    "quarantine": "DELETE FROM events.quarantine q WHERE q.tokens && %(tokens)s::text[] OR EXISTS "
    "(SELECT 1 FROM unnest(%(tokens)s::text[]) t WHERE position(t IN q.payload::text) > 0)",
}
