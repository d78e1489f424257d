"""The raw source responses, kept in the lake for audit and replay (the bronze layer).

`<lake>/bronze/fakestore/<endpoint>/dt=YYYY-MM-DD/<run id>.json`, one file per run and endpoint.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from caudal.pipelines.storage import filesystem, url_of


class Bronze:
    def __init__(self, lake_url: str) -> None:
        self.fs, self.root = filesystem(lake_url)

    def keep(self, source: str, endpoint: str, run_date: date, run_id: str, local: Path) -> str:
        folder = f"{self.root}/bronze/{source}/{endpoint}/dt={run_date.isoformat()}"
        self.fs.makedirs(folder, exist_ok=True)
        final = f"{folder}/{run_id}.json"
        partial = f"{folder}/.{run_id}.json.tmp"
        self.fs.put_file(str(local), partial)
        self.fs.mv(partial, final)
        return url_of(self.fs, final)
