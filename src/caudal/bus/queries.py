"""Named SQL queries of the PostgreSQL bus (`queries.sql`)."""

from functools import cache

from caudal.platform.db.queries import NamedQueries

q = NamedQueries("caudal.bus", "queries.sql")


@cache
def publish_statement(*, once: bool, ringing: bool) -> str:
    """The `publish` INSERT.

    `once`: a retried message id is stored once (`ON CONFLICT (message_id) DO NOTHING`).
    Without it the statement fails on an id already stored (or twice in the batch); it is for
    a statement that is its own transaction, whose caller runs it again with `once` on that
    failure. The conflict clause makes PostgreSQL insert each row speculatively (a unique-index
    probe first, a speculative-insertion lock, a confirmation record in the WAL): ~4 µs of a
    ~28 µs row in a 300-row batch (bench/profiles/README.md), paid for duplicates that only a
    retry brings.

    `ringing`: also notify the listening workers of the topics written (delivered when the
    transaction commits). One INSERT text for both: a publisher that rang a moment ago runs the
    INSERT alone, since NOTIFY serialises committing transactions."""
    insert = q("publish") + ("\nON CONFLICT (message_id) DO NOTHING" if once else "")
    if not ringing:
        return insert
    return (
        f"WITH ins AS ({insert} RETURNING topic)\n"
        "SELECT pg_notify('caudal_bus', topic) FROM (SELECT DISTINCT topic FROM ins) AS t"
    )
