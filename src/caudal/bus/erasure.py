"""Erasure through the PostgreSQL bus: messages (and dead letters) holding a customer's token are
deleted. Offsets are positions, not row counts, so a gap in the log is harmless to consumers.

NATS JetStream keeps its stream until `max_age`: the messages there carry the token, never the
CPF (the intake tokenizes first), and age out with the stream's retention (docs/customers.md).
"""

from __future__ import annotations

DELETES = {
    "bus": "DELETE FROM bus.messages m WHERE EXISTS "
    "(SELECT 1 FROM unnest(%(tokens)s::text[]) t WHERE position(t IN m.payload::text) > 0)",
    "dead_letters": "DELETE FROM bus.dead_letters d WHERE EXISTS "
    "(SELECT 1 FROM unnest(%(tokens)s::text[]) t WHERE position(t IN d.payload::text) > 0)",
}
