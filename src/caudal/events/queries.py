"""Named SQL of the events domain (schemas, idempotency, quarantine, lake buffer, realtime)."""

from caudal.platform.db.queries import NamedQueries

q = NamedQueries("caudal.events", "queries.sql")
