"""Which lake file holds which bus records: a span of bus offsets of one bus partition.

A file's name says the span it covers: `part-p<partition>-<first offset>-<last offset>.parquet`
holds records of that bus partition, with offsets within those bounds, that belong in its
directory. A record is in at most one file: a delivery looks up the files of the same directory
and bus partition whose spans overlap its records' offsets, and writes only the events they do
not hold (by id). A redelivery of the same range therefore finds its own file (same span, same
name) and rewrites it or writes nothing; a replay cut elsewhere finds the overlapping files and
adds only what they miss. Spans may overlap (the PostgreSQL bus delivers a partition in commit
order, so a late-committed record can have a lower offset than records delivered before it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

_NAME = re.compile(r"^part-p(\d{4,})-(\d{20})-(\d{20})\.parquet$")


@dataclass(frozen=True, order=True)
class Span:
    partition: int
    first: int
    last: int

    @property
    def name(self) -> str:
        return f"part-p{self.partition:04d}-{self.first:020d}-{self.last:020d}.parquet"

    def overlaps(self, other: Span) -> bool:
        return (
            self.partition == other.partition
            and self.first <= other.last
            and other.first <= self.last
        )


def of_offsets(partition: int, offsets: Iterable[int]) -> Span:
    values = list(offsets)
    return Span(partition, min(values), max(values))


@functools.lru_cache(maxsize=1 << 15)
def parse(name: str) -> Span | None:
    """The span of a file name; None for a name of another kind (older releases' files).
    Memoized: each delivery lists its directories again, and a name once read is the same
    span for ever (a name's span is the file's identity), so only new names are parsed."""
    match = _NAME.match(name)
    if match is None:
        return None
    return Span(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def by_partition(names: Iterable[str], partitions: Iterable[int]) -> dict[int, list[Span]]:
    """The spans of these bus partitions' files among `names`, per partition. A delivery lists
    a directory that grows by a file per bus partition and delivery, so over a long backlog it
    holds thousands: only the names of its own partitions are parsed (a prefix test for the
    others; `parse` remembers names already seen), and each of its files is compared with
    those of its partition alone, in listing order."""
    out: dict[int, list[Span]] = {p: [] for p in partitions}
    prefixes = {f"part-p{p:04d}-": found for p, found in out.items()}
    width = {len(prefix) for prefix in prefixes}
    cut = width.pop() if len(width) == 1 else None  # one slice and a lookup per name
    for name in names:
        found = prefixes.get(name[:cut]) if cut else _prefixed(prefixes, name)
        if found is not None:
            span = parse(name)
            if span is not None:
                found.append(span)
    return out  # unsorted: a dataclass's ordering is a Python call per comparison


def merged(group: Iterable[Span]) -> Span:
    """The span of one file made of these (one partition's files, merged by compaction)."""
    members = list(group)
    return Span(members[0].partition, min(s.first for s in members), max(s.last for s in members))


def _prefixed(prefixes: dict[str, list[Span]], name: str) -> list[Span] | None:
    """The list of the prefix `name` starts with (partitions of different widths)."""
    for prefix, found in prefixes.items():
        if name.startswith(prefix):
            return found
    return None
