"""Named SQL queries of the PostgreSQL bus (`queries.sql`)."""

from caudal.platform.db.queries import NamedQueries

q = NamedQueries("caudal.bus", "queries.sql")
