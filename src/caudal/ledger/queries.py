"""Named SQL queries of the ledger (`queries.sql`)."""

from caudal.platform.db.queries import NamedQueries

q = NamedQueries("caudal.ledger", "queries.sql")
