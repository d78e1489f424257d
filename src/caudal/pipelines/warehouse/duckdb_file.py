"""The default warehouse: table `user_carts` in a DuckDB file (CAUDAL_HOME/warehouse.duckdb)."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import duckdb

from caudal.pipelines import queries
from caudal.pipelines.model import PipelineError


class DuckDBWarehouse:
    name = "duckdb"

    def __init__(self, path: Path, lock_wait_s: float = 30.0) -> None:
        self.path = path
        self.lock_wait_s = lock_wait_s

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """The file admits one writing process at a time: wait a little for another run."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_wait_s
        while True:
            con = duckdb.connect()
            try:
                literal = str(self.path).replace("'", "''")
                con.execute(f"ATTACH '{literal}' AS wh")
                return con
            except duckdb.IOException as exc:
                con.close()
                if time.monotonic() > deadline:
                    raise PipelineError(
                        code="CAU-PIPELINES-WAREHOUSE-LOCKED",
                        detail=f"the warehouse file {self.path} is held by another process: {exc}",
                        status=503,
                        title="Warehouse busy",
                    ) from exc
                time.sleep(0.2)

    def replace(self, dt: date, run_id: str, csv: Path, parquet: Path) -> str:
        con = self._connect()
        try:
            con.execute(queries.duck("warehouse_create"))
            con.execute("BEGIN TRANSACTION")
            con.execute(queries.duck("warehouse_delete"), {"dt": dt})
            con.execute(
                queries.duck("warehouse_insert"),
                {"dt": dt, "run_id": run_id, "path": str(parquet)},
            )
            con.execute("COMMIT")
        finally:
            con.close()
        return f"duckdb://{self.path}#user_carts"

    def partition(self, dt: date) -> list[tuple[object, ...]]:
        """The rows of one partition, ordered by user (for `caudal pipeline` users and tests)."""
        con = self._connect()
        try:
            return con.execute(
                "SELECT user_id, last_cart_date, top_category, total_quantity, carts, "
                "distinct_products, cart_value, run_id FROM wh.user_carts WHERE dt = $dt "
                "ORDER BY user_id",
                {"dt": dt},
            ).fetchall()
        finally:
            con.close()
