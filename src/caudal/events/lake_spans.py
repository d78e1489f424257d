"""Which lake file a bus record belongs to: a span of bus offsets of one bus partition.

A file's name says the span it holds: `part-p<partition>-<first offset>-<last offset>.parquet`
holds every record of that bus partition, within those offsets, that belongs in its directory.
A record's file is a function of the record alone (its partition and offset): the span of an
existing file that covers its offset (compaction makes wide spans), else its fixed window of
`WINDOW` offsets. So however a redelivery or a replay cuts its batches, it writes each record
into the file that already holds it, never into a second one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

WINDOW = 8192  # offsets per new file: part of the file naming, never changed on a live lake
_NAME = re.compile(r"^part-p(\d{4,})-(\d{20})-(\d{20})\.parquet$")


@dataclass(frozen=True, order=True)
class Span:
    partition: int
    first: int
    last: int

    @property
    def name(self) -> str:
        return f"part-p{self.partition:04d}-{self.first:020d}-{self.last:020d}.parquet"

    def covers(self, partition: int, offset: int) -> bool:
        return partition == self.partition and self.first <= offset <= self.last


def window(partition: int, offset: int) -> Span:
    first = offset - offset % WINDOW
    return Span(partition, first, first + WINDOW - 1)


def parse(name: str) -> Span | None:
    """The span of a file name; None for a name of another kind (older releases' files)."""
    match = _NAME.match(name)
    if match is None:
        return None
    return Span(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def spans(names: Iterable[str]) -> list[Span]:
    return sorted(s for s in map(parse, names) if s is not None)


def span_for(existing: list[Span], partition: int, offset: int) -> Span:
    """The file a record goes to: the existing one covering it, else its window."""
    for span in existing:
        if span.covers(partition, offset):
            return span
    return window(partition, offset)


def merged(group: Iterable[Span]) -> Span:
    """The span of one file made of these (one partition's files, merged by compaction)."""
    members = list(group)
    return Span(members[0].partition, min(s.first for s in members), max(s.last for s in members))
