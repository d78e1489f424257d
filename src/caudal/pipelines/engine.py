"""A DuckDB session for one run: staged inputs, the quality checks, the transform, the files."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from caudal.pipelines import queries
from caudal.pipelines.model import run_window_end


class Session:
    def __init__(self, staging: Path, *, memory_limit: str, known_categories: list[str]) -> None:
        spill = staging / "spill"
        spill.mkdir(parents=True, exist_ok=True)
        self.staging = staging
        self.con = duckdb.connect(
            ":memory:",
            config={
                "memory_limit": memory_limit,
                "temp_directory": str(spill),
                "preserve_insertion_order": "false",
            },
        )
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(
            "CREATE TEMP TABLE known_categories AS SELECT unnest($c::VARCHAR[]) AS category",
            {"c": known_categories},
        )
        self.has_users = False
        self.has_categories = bool(known_categories)

    def close(self) -> None:
        self.con.close()

    def run(self, name: str, params: dict[str, Any] | None = None) -> None:
        self.con.execute(queries.duck(name), params or {})

    def register_filesystem(self, fs: Any) -> None:
        self.con.register_filesystem(fs)

    def check(self, name: str) -> tuple[int, list[str]]:
        row = self.con.execute(queries.duck(name)).fetchone()
        assert row is not None
        return int(row[0]), [str(s) for s in (row[1] or [])]

    def include(self, run_date: date) -> None:
        """Keep the lines the run covers (dated before the end of `run_date`, UTC)."""
        self.run("included_lines", {"end": run_window_end(run_date)})

    def transform(self) -> int:
        self.run("user_carts")
        row = self.con.execute("SELECT count(*) FROM user_carts").fetchone()
        assert row is not None
        return int(row[0])

    def write(self, folder: Path) -> tuple[Path, Path]:
        """The result as CSV (header, ISO dates, 2-decimal values) and Parquet (typed) files."""
        folder.mkdir(parents=True, exist_ok=True)
        csv, parquet = folder / "user_carts.csv", folder / "user_carts.parquet"
        self.con.execute(f"COPY user_carts TO '{_literal(csv)}' (FORMAT csv, HEADER true)")
        self.con.execute(
            f"COPY user_carts TO '{_literal(parquet)}' (FORMAT parquet, COMPRESSION zstd)"
        )
        return csv, parquet

    def rows(self) -> list[tuple[Any, ...]]:
        """The result rows, ordered by user (for small results: tests and the API)."""
        return self.con.execute("SELECT * FROM user_carts ORDER BY user_id").fetchall()


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")
