"""Erasing a customer's events from the events capability's tables, by the token they carry.

Events carry a CPF only as its keyed token (the blind index, hex; the intake replaces the CPF by
it), so a customer's copies are the rows whose data holds that token. Per-minute rollups hold
counts by source/type/platform only: nothing in them links to a customer. Quarantined payloads
are sealed: an entry is matched by the tokens stored beside it (any 64-hex string of the
payload, and the token of any valid CPF it holds in clear: `quarantine_seal.py`), or on its
text while it is still in clear, so an invalid event holding the token or the CPF anywhere goes
too.
"""

from __future__ import annotations

# `position(t IN text)` over a bounded table (retention): an erasure is rare, a scan is fine.
# Only copies received before the erasure (+ MARGIN, as the barrier drops) go: a notice handled
# again spares a customer registered again since with the same CPF
# (`erasure_barrier_postgres.bounds`).
_ERASED = "unnest(%(tokens)s::text[], %(until)s::timestamptz[]) AS n(t, until)"
DELETES = {
    "realtime": f"DELETE FROM events.recent r USING {_ERASED}"
    " WHERE position(n.t IN r.data::text) > 0 AND r.received_at < n.until",
    "quarantine": f"DELETE FROM events.quarantine q USING {_ERASED}"
    " WHERE (n.t = ANY(q.tokens) OR position(n.t IN q.payload::text) > 0)"
    " AND q.received_at < n.until",
}
