"""One `/metrics` for the processes of one `caudal up`: this process's registry with the
series its worker children report.

The dashboard and users scrape one endpoint. The children's text expositions are parsed and
merged family by family: one family per name (its HELP and TYPE once), the samples of the
processes side by side. The same series in two processes (same sample name and labels) is
added up for counters, histograms and summaries (each process counts its own part), and is
this process's for anything else (a gauge, a `_created` timestamp). The children's `process_*`
and `python_*` families (resident memory, CPU seconds, GC) are left out: those describe this
process only, as they would in a one-process `caudal up`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

_ADDED = frozenset({"counter", "histogram", "summary", "gaugehistogram"})
_THIS_PROCESS_ONLY = ("process_", "python_")


class MetricsSource(Protocol):
    async def metrics(self) -> bytes | None:
        """The process's exposition, or None when it cannot answer now (not running)."""


class PeerMetrics:
    """The other processes whose metrics this process's `/metrics` shows."""

    def __init__(self, sources: Sequence[MetricsSource]) -> None:
        self.sources = list(sources)

    async def texts(self) -> list[bytes]:
        found = await asyncio.gather(*(s.metrics() for s in self.sources))
        return [text for text in found if text is not None]


class _Families:
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def exposition(peers: Sequence[bytes], registry: Collector = REGISTRY) -> bytes:
    """`registry`'s exposition merged with the peers' (see the module's docstring); a peer's
    text that does not parse is left out whole."""
    own = generate_latest(registry)
    if not peers:
        return own
    merged = {family.name: family for family in _parse(own)}
    for text in peers:
        try:
            families = list(_parse(text))
        except ValueError:
            continue
        for family in families:
            if family.name.startswith(_THIS_PROCESS_ONLY):
                continue
            mine = merged.get(family.name)
            merged[family.name] = family if mine is None else _merge(mine, family)
    return generate_latest(_Families(merged.values()))


def _parse(text: bytes) -> Iterator[Metric]:
    return iter(text_string_to_metric_families(text.decode("utf-8")))


def _merge(mine: Metric, theirs: Metric) -> Metric:
    if mine.type != theirs.type:
        return mine  # two meanings for one name: this process's holds
    add = mine.type in _ADDED
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], Sample] = {
        _key(s): s for s in mine.samples
    }
    for sample in theirs.samples:
        key = _key(sample)
        known = samples.get(key)
        if known is None:
            samples[key] = sample
        elif add and not sample.name.endswith("_created"):
            samples[key] = known._replace(value=known.value + sample.value)
    family = Metric(mine.name, mine.documentation, mine.type, mine.unit)
    family.samples = list(samples.values())
    return family


def _key(sample: Sample) -> tuple[str, tuple[tuple[str, str], ...]]:
    return sample.name, tuple(sorted(sample.labels.items()))
