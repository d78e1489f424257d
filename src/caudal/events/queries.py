"""Named SQL of the events domain (schemas, idempotency, quarantine, realtime)."""

from caudal.platform.db.queries import NamedQueries

q = NamedQueries("caudal.events", "queries.sql")
