"""Named SQL queries of the PostgreSQL bus (`queries.sql`)."""

from functools import cache

from caudal.platform.db.queries import NamedQueries

q = NamedQueries("caudal.bus", "queries.sql")


@cache
def publish_ringing() -> str:
    """`publish` that also notifies the listening workers of the topics written (delivered when
    the transaction commits). One INSERT text for both: a publisher that rang a moment ago runs
    `publish` alone, since NOTIFY serialises committing transactions."""
    return (
        f"WITH ins AS ({q('publish')} RETURNING topic)\n"
        "SELECT pg_notify('caudal_bus', topic) FROM (SELECT DISTINCT topic FROM ins) AS t"
    )
