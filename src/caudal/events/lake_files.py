"""Lake files through fsspec: `<root>/<source>/<type>/dt=YYYY-MM-DD/part-<span>.parquet`
(`lake_spans.py` says which records a file holds).

The column CONTRACT (read by pipelines and by anyone's Spark/Trino/Athena/DuckDB):
id string, source string, type string, version string, occurred_at timestamp(us, UTC),
received_at timestamp(us, UTC), trace_key string, platform string (nullable),
device_id string (nullable), data string (the event's data as JSON text).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import structlog

from caudal.events import lake_spans
from caudal.events.model import CanonicalEvent

_log = structlog.get_logger("caudal.events.lake")

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
_REMEMBERED_ROWS = 200_000  # rows of recently written files kept in memory, per process
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
        # The files this process wrote last, with their (mtime, size) then: a delivery adding to
        # a file it wrote a moment ago does not read it back (local disks; any change shows).
        self._written: OrderedDict[str, tuple[tuple[int, int], pa.Table, set[str]]] = OrderedDict()
        self._written_lock = threading.Lock()

    def _full(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def write_table(self, relative_dir: str, name: str, table: pa.Table) -> str:
        """Write `table` as `<dir>/<name>` atomically: a temp name then a rename on local disks;
        a single put on object stores (atomic there). Rewriting the same name replaces it."""
        directory = self._full(relative_dir)
        final = f"{directory}/{name}"
        if self.local:  # straight to the disk (pyarrow writes without the GIL), then a rename
            os.makedirs(directory, exist_ok=True)
            temp = f"{directory}/.{name}.tmp-{secrets.token_hex(4)}"
            try:
                pq.write_table(table, temp, compression="zstd")
                os.replace(temp, final)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(temp)
        else:
            self.fs.makedirs(directory, exist_ok=True)
            with self.fs.open(final, "wb") as handle:
                pq.write_table(table, handle, compression="zstd")
        return final

    def names(self, relative_dir: str) -> list[str]:
        """The file names in one directory (none when it does not exist yet)."""
        directory = self._full(relative_dir)
        if self.local:
            try:
                return os.listdir(directory)
            except FileNotFoundError:
                return []
        if not self.fs.exists(directory):
            return []
        return [str(p).rsplit("/", 1)[-1] for p in self.fs.ls(directory, detail=False)]

    def merge_events(
        self, relative_dir: str, name: str, events: Sequence[CanonicalEvent]
    ) -> str | None:
        """Add to `<dir>/<name>` the events it does not hold yet (by id), rewriting it whole;
        None when it holds them all already (a redelivery: nothing is written)."""
        path = f"{self._full(relative_dir)}/{name}"
        held, seen = self._held(path)
        fresh = []
        for event in events:
            if event.id not in seen:
                seen.add(event.id)
                fresh.append(event)
        if not fresh:
            return None
        table = events_table(fresh)
        if held is not None:
            table = pa.concat_tables([held, table])
        written = self.write_table(relative_dir, name, table)
        if self.local:
            stat = os.stat(written)
            with self._written_lock:
                self._written[written] = ((stat.st_mtime_ns, stat.st_size), table, seen)
                self._written.move_to_end(written)
                rows = sum(t.num_rows for _, t, _ in self._written.values())
                while rows > _REMEMBERED_ROWS and len(self._written) > 1:
                    rows -= self._written.popitem(last=False)[1][1].num_rows
        return written

    def ids_in(self, relative_dir: str, name: str) -> set[str]:
        """The event ids `<dir>/<name>` holds (none when it is missing or unreadable)."""
        return self._held(f"{self._full(relative_dir)}/{name}")[1]

    def _held(self, path: str) -> tuple[pa.Table | None, set[str]]:
        """What the file at `path` holds, and its ids (a copy: the caller adds to it)."""
        try:
            if self.local:
                stat = os.stat(path)
                with self._written_lock:
                    known = self._written.get(path)
                if known is not None and known[0] == (stat.st_mtime_ns, stat.st_size):
                    return known[1], set(known[2])
                held = pq.read_table(path, schema=SCHEMA, partitioning=None)
            elif self.fs.exists(path):
                with self.fs.open(path, "rb") as handle:
                    held = pq.read_table(handle, schema=SCHEMA)
            else:
                return None, set()
        except FileNotFoundError:
            return None, set()
        except (pa.ArrowInvalid, OSError) as exc:  # not Parquet: it holds nothing readable
            _log.warning("lake_file_unreadable_replaced", path=path, error=str(exc))
            return None, set()
        return held, set(held.column("id").to_pylist())

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


def compact_partition(
    files: LakeFiles, directory: str, paths: list[str]
) -> tuple[int, int, int, int] | None:
    """Merge a directory's files, deduped by id: one file per bus partition, named after the
    span of offsets it merges (so later redeliveries of those offsets still land in it), and
    the files of older releases (no span in their name) into one `part-c` file holding only
    the ids no other file has. None when there is nothing to merge; else (files merged, files
    written, rows before, rows after). The merged files are complete (temp + rename) before
    the merged ones are removed; a crash in between leaves duplicates that the next
    compaction removes."""
    by_partition: dict[int, list[tuple[lake_spans.Span, str]]] = defaultdict(list)
    legacy: list[str] = []
    for path in paths:
        span = lake_spans.parse(path.rsplit("/", 1)[-1])
        if span is None:
            legacy.append(path)
        else:
            by_partition[span.partition].append((span, path))
    merging = {p: group for p, group in by_partition.items() if len(group) > 1}
    if not merging and not legacy:
        return None
    before = after = 0
    written: set[str] = set()
    removed: list[str] = []
    for group in merging.values():
        table = files.read([path for _, path in group])
        merged = dedupe(table)
        name = lake_spans.merged(span for span, _ in group).name
        written.add(files.write_table(directory, name, merged))
        removed += [path for _, path in group]
        before, after = before + table.num_rows, after + merged.num_rows
    if legacy:
        kept = [path for group in by_partition.values() for _, path in group]
        known = set(files.read(kept).column("id").to_pylist()) if kept else set()
        table = files.read(legacy)
        merged = dedupe(table)
        merged = merged.filter(pa.array([i not in known for i in merged.column("id").to_pylist()]))
        before, after = before + table.num_rows, after + merged.num_rows
        if merged.num_rows:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            name = f"part-c{stamp}-{secrets.token_hex(4)}.parquet"
            written.add(files.write_table(directory, name, merged))
        removed += legacy
    files.remove(p for p in removed if p not in written)
    return len(removed), len(written), before, after
