"""`lake_spans.by_partition`: what a lake delivery compares its records with, per bus partition,
among the names of a directory that holds every partition's files (and stray names)."""

from __future__ import annotations

from caudal.events import lake_spans
from caudal.events.lake_spans import Span


def test_by_partition_keeps_only_the_asked_partitions_spans_in_listing_order() -> None:
    names = [
        Span(3, 1_250, 1_874).name,
        Span(13, 0, 624).name,  # "part-p0013-": not partition 1 or 3
        Span(1, 0, 624).name,
        "part-p0003-notanumber.parquet",  # the prefix, not a span
        ".part-p0003-00000000000000000000-00000000000000000001.parquet.tmp",
        "_SUCCESS",
        Span(3, 0, 624).name,
        Span(12_345, 5, 9).name,  # a wider partition number, not asked for
    ]
    found = lake_spans.by_partition(names, [3, 1, 7])
    assert found == {
        3: [Span(3, 1_250, 1_874), Span(3, 0, 624)],
        1: [Span(1, 0, 624)],
        7: [],
    }


def test_by_partition_with_partitions_of_different_widths() -> None:
    names = [Span(12_345, 5, 9).name, Span(2, 0, 1).name, Span(1_234, 7, 8).name]
    found = lake_spans.by_partition(names, [2, 12_345])
    assert found == {2: [Span(2, 0, 1)], 12_345: [Span(12_345, 5, 9)]}


def test_by_partition_of_nothing() -> None:
    assert lake_spans.by_partition([Span(1, 0, 1).name], []) == {}
    assert lake_spans.by_partition([], [4]) == {4: []}
