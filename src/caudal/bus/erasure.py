"""Erasure through the PostgreSQL bus: messages (and dead letters) holding a customer's token are
deleted. Offsets are positions, not row counts, so a gap in the log is harmless to consumers.
The `customers.erased` message itself stays (it holds the token, never the CPF): every consumer
group that has not read it yet (Base B, webhooks) must still see the erasure.

NATS JetStream keeps its stream until `max_age`: the messages there carry the token, never the
CPF (the intake tokenizes first), and age out with the stream's retention (docs/customers.md).
"""

from __future__ import annotations

DELETES = {
    "bus": "DELETE FROM bus.messages m WHERE EXISTS "
    "(SELECT 1 FROM unnest(%(tokens)s::text[]) t WHERE position(t IN m.payload::text) > 0)"
    " AND m.payload->>'type' IS DISTINCT FROM 'customers.erased'",
    "dead_letters": "DELETE FROM bus.dead_letters d WHERE EXISTS "
    "(SELECT 1 FROM unnest(%(tokens)s::text[]) t WHERE position(t IN d.payload::text) > 0)",
}
