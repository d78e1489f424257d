"""Exports to a bucket: `<bucket>/user_carts/dt=YYYY-MM-DD/{user_carts.csv, user_carts.parquet,
_SUCCESS}` through fsspec, written so that no reader ever sees a partial file.

Protocol: the old `_SUCCESS` of the partition is removed first; each file is uploaded under a
hidden temporary name (`.<name>.<run id>.tmp`, ignored by Spark, Hive, DuckDB and BigQuery globs)
and then renamed into place (an atomic rename on local disks; a single committed object on
S3/GCS); `_SUCCESS` (JSON: rows, and each file's sha256 and size) is written last, the same way.
A reader that waits for `_SUCCESS` and checks the checksum never reads a partial or mixed export.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import structlog

from caudal.pipelines.storage import filesystem, url_of

_log = structlog.get_logger("caudal.pipelines.export")
PREFIX = "user_carts"
SUCCESS = "_SUCCESS"
_PARTITION = re.compile(r"dt=(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Exported:
    urls: list[str]
    rows: int
    marker: dict[str, Any]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class BucketExporter:
    def __init__(self, bucket_url: str, fs: Any = None) -> None:
        if fs is None:
            self.fs, self.root = filesystem(bucket_url)
        else:
            self.fs, self.root = fs, bucket_url.split("://", 1)[-1].rstrip("/")

    def folder(self, dt: date) -> str:
        return f"{self.root}/{PREFIX}/dt={dt.isoformat()}"

    def export(self, dt: date, run_id: str, rows: int, files: list[Path]) -> Exported:
        folder = self.folder(dt)
        self.fs.makedirs(folder, exist_ok=True)
        marker_path = f"{folder}/{SUCCESS}"
        if self.fs.exists(marker_path):
            self.fs.rm(marker_path)  # the partition is being replaced: not complete until the end
        self._sweep(folder)
        marker: dict[str, Any] = {
            "rows": rows,
            "run_id": run_id,
            "dt": dt.isoformat(),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": {},
        }
        urls: list[str] = []
        for local in files:
            marker["files"][local.name] = {
                "sha256": sha256_of(local),
                "bytes": local.stat().st_size,
            }
            urls.append(self._place(local, folder, run_id))
        marker_local = files[0].parent / SUCCESS
        marker_local.write_bytes(orjson.dumps(marker, option=orjson.OPT_INDENT_2))
        urls.append(self._place(marker_local, folder, run_id))
        return Exported(urls=urls, rows=rows, marker=marker)

    def _place(self, local: Path, folder: str, run_id: str) -> str:
        partial = f"{folder}/.{local.name}.{run_id}.tmp"
        final = f"{folder}/{local.name}"
        try:
            self.fs.put_file(str(local), partial)
            self.fs.mv(partial, final)
        except BaseException:
            if self.fs.exists(partial):
                self.fs.rm(partial)
            raise
        return url_of(self.fs, final)

    def _sweep(self, folder: str) -> None:
        """Temporary files left by a crashed run of this partition."""
        for name in self.fs.ls(folder, detail=False):
            base = str(name).rsplit("/", 1)[-1]
            if base.startswith(".") and base.endswith(".tmp"):
                self.fs.rm(name)

    def partitions(self) -> list[date]:
        base = f"{self.root}/{PREFIX}"
        if not self.fs.exists(base):
            return []
        found: list[date] = []
        for name in self.fs.ls(base, detail=False):
            match = _PARTITION.search(str(name).rstrip("/"))
            if match:
                found.append(date.fromisoformat(match.group(1)))
        return sorted(found)

    def written_on(self, dt: date) -> date:
        """The UTC day the partition was written (its `_SUCCESS`), else its own date."""
        marker = f"{self.folder(dt)}/{SUCCESS}"
        try:
            with self.fs.open(marker, "rb") as handle:
                written = orjson.loads(handle.read()).get("written_at")
            return datetime.fromisoformat(str(written)).astimezone(UTC).date()
        except (OSError, ValueError, TypeError, AttributeError, orjson.JSONDecodeError):
            return dt

    def retain(self, days: int, today: date, keep: date | None = None) -> list[str]:
        """Delete partitions written more than `days` days before `today` (0 keeps everything).

        Like a bucket lifecycle rule (seed 004), age counts from when the export was written,
        not from its date: backfilling 2020 dates one by one keeps each of them for `days` days.
        A partition without a readable `_SUCCESS` (a crashed first run) ages from its own date.
        The partition just written (`keep`) always survives.
        """
        if days <= 0:
            return []
        cutoff = today - timedelta(days=days)
        deleted: list[str] = []
        for dt in self.partitions():
            if dt != keep and self.written_on(dt) < cutoff:
                folder = self.folder(dt)
                self.fs.rm(folder, recursive=True)
                deleted.append(url_of(self.fs, folder))
                _log.info("export_expired", partition=dt.isoformat(), retention_days=days)
        return deleted
