"""Downloads of what a page lists, streamed page by page as CSV or Parquet.

A download never holds more than one page of rows in memory: each page read from the API is
written out (a CSV chunk, or a Parquet row group) before the next is read, and the whole export
stops at a bound so a careless filter cannot stream the database.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
PAGE_ROWS = 500
MAX_ROWS = 100_000

Row = dict[str, Any]


def attachment(filename: str) -> dict[str, str]:
    """The headers of a download: saved under `filename`, never cached, never sniffed."""
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }


@dataclass(frozen=True)
class Column:
    name: str
    kind: pa.DataType
    read: Callable[[Row], Any]


def text(key: str) -> Callable[[Row], Any]:
    return lambda row: None if row.get(key) is None else str(row[key])


def instant(key: str) -> Callable[[Row], Any]:
    def read(row: Row) -> datetime | None:
        value = row.get(key)
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    return read


def as_json(key: str) -> Callable[[Row], Any]:
    return lambda row: orjson.dumps(row.get(key)).decode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


async def csv_stream(
    columns: tuple[Column, ...], pages: AsyncIterator[list[Row]]
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    async for page in pages:
        writer.writerows([_cell(c.read(row)) for c in columns] for row in page)
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


class _Sink:
    """A write-only file for ParquetWriter whose bytes are handed on as soon as they are written."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def drain(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


async def parquet_stream(
    columns: tuple[Column, ...], pages: AsyncIterator[list[Row]]
) -> AsyncIterator[bytes]:
    schema = pa.schema([(c.name, c.kind) for c in columns])
    sink = _Sink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        async for page in pages:
            arrays = [pa.array([c.read(row) for row in page], type=c.kind) for c in columns]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            yield sink.drain()
    finally:
        writer.close()
    yield sink.drain()


def stream(
    fmt: str, columns: tuple[Column, ...], pages: AsyncIterator[list[Row]]
) -> AsyncIterator[bytes]:
    return parquet_stream(columns, pages) if fmt == "parquet" else csv_stream(columns, pages)
