"""The warehouse a run loads into, one partition (`dt`) per run date, replaced on a re-run."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Protocol


class Warehouse(Protocol):
    name: str

    def replace(self, dt: date, run_id: str, csv: Path, parquet: Path) -> str:
        """Atomically replace partition `dt` with the result files; return where it went."""
