"""The collector's tuning for streaming processes (platform/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from caudal.platform import collector


@pytest.fixture
def restored() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored")
def test_start_up_objects_are_frozen_and_young_collections_are_rarer() -> None:
    settled: list[int] = []  # alive before the tuning: out of every later collection
    collector.tune_for_streaming()
    assert gc.get_threshold() == (50_000, 20, 20)
    assert gc.get_freeze_count() > 0
    assert not any(o is settled for o in gc.get_objects())
