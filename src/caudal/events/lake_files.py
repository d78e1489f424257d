"""Lake files through fsspec: `<root>/<source>/<type>/dt=YYYY-MM-DD/part-<batch>.parquet`.

The column CONTRACT (read by pipelines and by anyone's Spark/Trino/Athena/DuckDB):
id string, source string, type string, version string, occurred_at timestamp(us, UTC),
received_at timestamp(us, UTC), trace_key string, platform string (nullable),
device_id string (nullable), data string (the event's data as JSON text).
"""

from __future__ import annotations

import re
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from caudal.events.model import CanonicalEvent

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("occurred_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("trace_key", pa.string()),
        pa.field("platform", pa.string()),
        pa.field("device_id", pa.string()),
        pa.field("data", pa.string(), nullable=False),
    ]
)
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)
_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-]")


def segment(value: str) -> str:
    """A path segment for a source or type: anything unusual becomes `_`; never `.`/`..`."""
    cleaned = _UNSAFE.sub("_", value)[:128] or "_"
    return "_" + cleaned if cleaned.strip(".") == "" else cleaned


@dataclass(frozen=True)
class Partition:
    source: str
    type: str
    dt: str  # YYYY-MM-DD of occurred_at in UTC

    def path(self) -> str:
        return f"{segment(self.source)}/{segment(self.type)}/dt={self.dt}"


def default_url(home: Path) -> str:
    return f"file://{home / 'lake'}"


class LakeFiles:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        fs, root = fsspec.core.url_to_fs(self.url)
        self.fs: Any = fs
        self.root: str = root.rstrip("/")
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.local = protocol in ("file", "local")

    def _full(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def write_table(self, relative_dir: str, name: str, table: pa.Table) -> str:
        """Write `table` as `<dir>/<name>` atomically: a temp name then a rename on local disks;
        a single put on object stores (atomic there). Rewriting the same name replaces it."""
        directory = self._full(relative_dir)
        final = f"{directory}/{name}"
        self.fs.makedirs(directory, exist_ok=True)
        if self.local:
            temp = f"{directory}/.{name}.tmp-{secrets.token_hex(4)}"
            try:
                with self.fs.open(temp, "wb") as handle:
                    pq.write_table(table, handle, compression="zstd")
                self.fs.mv(temp, final)
            finally:
                if self.fs.exists(temp):
                    self.fs.rm(temp)
        else:
            with self.fs.open(final, "wb") as handle:
                pq.write_table(table, handle, compression="zstd")
        return final

    def write_events(self, relative_dir: str, name: str, events: Sequence[CanonicalEvent]) -> str:
        """Events as one `<dir>/<name>` file (replacing any file of that name)."""
        return self.write_table(relative_dir, name, events_table(events))

    def parts(self, dt: str | None = None) -> dict[str, list[str]]:
        """Parquet files per partition directory (relative), optionally of one date."""
        pattern = f"{self.root}/*/*/dt={dt or '*'}/*.parquet"
        found: dict[str, list[str]] = defaultdict(list)
        for path in sorted(self.fs.glob(pattern)):
            relative = (
                str(path)[len(self.root) + 1 :] if str(path).startswith(self.root) else str(path)
            )
            directory, _, _ = relative.rpartition("/")
            found[directory].append(str(path))
        return dict(found)

    def census(self) -> tuple[int, int]:
        """(rows, files) in the whole lake, from the Parquet footers."""
        paths = [p for ps in self.parts().values() for p in ps]
        rows = 0
        for path in paths:
            with self.fs.open(path, "rb") as handle:
                rows += pq.ParquetFile(handle).metadata.num_rows
        return rows, len(paths)

    def read(self, paths: Iterable[str]) -> pa.Table:
        tables = []
        for path in paths:
            with self.fs.open(path, "rb") as handle:
                tables.append(pq.read_table(handle, schema=SCHEMA))
        return pa.concat_tables(tables) if tables else SCHEMA.empty_table()

    def remove(self, paths: Iterable[str]) -> None:
        for path in paths:
            self.fs.rm(path)


def events_table(events: Sequence[CanonicalEvent]) -> pa.Table:
    """Canonical events in the column CONTRACT, built column by column."""
    devices = [e.device or {} for e in events]
    columns = [
        [e.id for e in events],
        [e.source for e in events],
        [e.type for e in events],
        [e.version for e in events],
        [e.occurred_at for e in events],
        [e.received_at for e in events],
        [e.trace_key for e in events],
        [_text(d.get("platform")) for d in devices],
        [_text(d.get("deviceId")) for d in devices],
        [orjson.dumps(e.data).decode() for e in events],
    ]
    arrays = [pa.array(c, type=f.type) for c, f in zip(columns, SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def to_table(rows: Sequence[Sequence[Any]]) -> pa.Table:
    arrays = [pa.array([row[i] for row in rows], type=field.type) for i, field in enumerate(SCHEMA)]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def dedupe(table: pa.Table) -> pa.Table:
    """Keep the first row of each id, ordered by occurred_at then id."""
    if table.num_rows == 0:
        return table
    table = table.sort_by([("occurred_at", "ascending"), ("id", "ascending")])
    ids = table.column("id").to_pylist()
    seen: set[str] = set()
    keep = []
    for index, id_ in enumerate(ids):
        if id_ not in seen:
            seen.add(id_)
            keep.append(index)
    return table.take(pa.array(keep, type=pa.int64())) if len(keep) < len(ids) else table


def compact_partition(files: LakeFiles, directory: str, paths: list[str]) -> tuple[int, int]:
    """Merge a partition's files into one (deduped by id). Returns (rows before, rows after).
    The merged file is complete (temp + rename) before the merged parts are removed; a crash in
    between leaves duplicates that the next compaction removes."""
    table = files.read(paths)
    merged = dedupe(table)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    files.write_table(directory, f"part-c{stamp}-{secrets.token_hex(4)}.parquet", merged)
    files.remove(paths)
    return table.num_rows, merged.num_rows
