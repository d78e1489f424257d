"""The warehouse in PostgreSQL (`pipelines.user_carts`): CAUDAL_PIPELINES__WAREHOUSE=postgres."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg

from caudal.pipelines import queries
from caudal.platform.db.urls import describe


class PostgresWarehouse:
    name = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url

    def replace(self, dt: date, run_id: str, csv: Path, parquet: Path) -> str:
        with psycopg.connect(self.url) as conn, conn.transaction():
            conn.execute(queries.pg("warehouse_stage"))
            with conn.cursor().copy(queries.pg("warehouse_copy")) as copy, csv.open("rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            conn.execute(queries.pg("warehouse_delete"), {"dt": dt})
            conn.execute(queries.pg("warehouse_insert"), {"dt": dt, "run_id": run_id})
        return f"{describe(self.url)}#pipelines.user_carts"
