"""Erasure through the PostgreSQL bus: messages (and dead letters) holding a customer's token are
deleted. Offsets are positions, not row counts, so a gap in the log is harmless to consumers.
The `customers.erased` message itself stays (it holds the token, never the CPF): every consumer
group that has not read it yet (Base B, webhooks) must still see the erasure.

NATS JetStream keeps its stream until `max_age`: the messages there carry the token, never the
CPF (the intake tokenizes first), and age out with the stream's retention (docs/customers.md).
"""

from __future__ import annotations

# Only the messages received before the erasure (+ MARGIN, as the barrier drops: `until`) go, by
# the canonical event's own `received_at` (migration 0006), so a customer registered again with the
# same CPF, even before the erasure was first handled, keeps theirs; a payload without one (not a
# canonical event) goes if published before the erasure was first handled (`handled`).
_ERASED = (
    "unnest(%(tokens)s::text[], %(until)s::timestamptz[], %(handled)s::timestamptz[])"
    " AS n(t, until, handled)"
)
DELETES = {
    "bus": f"DELETE FROM bus.messages m USING {_ERASED}"
    " WHERE position(n.t IN m.payload::text) > 0"
    " AND coalesce(bus.received_at(m.payload) < n.until, m.published_at < n.handled)"
    " AND m.payload->>'type' IS DISTINCT FROM 'customers.erased'",
    "dead_letters": f"DELETE FROM bus.dead_letters d USING {_ERASED}"
    " WHERE position(n.t IN d.payload::text) > 0"
    " AND coalesce(bus.received_at(d.payload::json) < n.until, d.published_at < n.handled)",
}
