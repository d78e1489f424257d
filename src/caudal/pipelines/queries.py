"""Named SQL queries of the pipelines, in the files of `sql/`."""

from caudal.platform.db.queries import NamedQueries

# DuckDB statements of the user-carts transform
duck = NamedQueries("caudal.pipelines", "sql", "user_carts.sql")
# PostgreSQL statements of the run history and warehouse
pg = NamedQueries("caudal.pipelines", "sql", "runs.sql")
