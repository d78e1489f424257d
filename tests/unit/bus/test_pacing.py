"""`bus.pacing`: which member of a process waits for which (the waits themselves, on a real
bus: tests/integration/bus/test_pacing.py)."""

from __future__ import annotations

import pytest

from caudal.bus import pacing as pacing_module
from caudal.bus.pacing import Pacing

ALL = {0, 1, 2, 3}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [100.0]
    monkeypatch.setattr(pacing_module.time, "monotonic", lambda: now[0])
    return now


def test_a_member_far_ahead_of_another_group_on_a_shared_partition_waits(
    clock: list[float],
) -> None:
    p = Pacing(reach=100)
    p.delivered("lake-1", "lake", ("events",), ALL, {0: 1_000, 1: 1_000})
    p.delivered("rt-1", "realtime", ("events",), ALL, {0: 1_100, 1: 1_050})
    assert not p.ahead("rt-1")  # 100 ahead: within reach
    p.delivered("rt-1", "realtime", ("events",), ALL, {1: 1_101})
    assert p.ahead("rt-1")
    assert not p.ahead("lake-1")  # behind, never waits
    p.delivered("lake-1", "lake", ("events",), ALL, {1: 1_090})
    assert not p.ahead("rt-1")


def test_only_fresh_members_of_other_groups_on_the_same_topics_are_waited_for(
    clock: list[float],
) -> None:
    p = Pacing(reach=10, fresh=2.0)
    p.delivered("a-1", "a", ("t",), ALL, {0: 0})
    p.delivered("a-2", "a", ("t",), ALL, {0: 500})  # same group: its partitions are its own
    p.delivered("other-topic", "b", ("u",), ALL, {0: 0})
    assert not p.ahead("a-2")
    p.delivered("b-1", "b", ("t",), ALL, {0: 0})
    assert p.ahead("a-2")
    clock[0] += 2.5  # b-1 delivered nothing since: stalled, lingering or gone
    assert not p.ahead("a-2")
    p.delivered("b-1", "b", ("t",), ALL, {0: 10})
    assert p.ahead("a-2")
    p.left("b-1")
    assert not p.ahead("a-2")


def test_a_partition_a_member_no_longer_reads_is_not_compared(clock: list[float]) -> None:
    p = Pacing(reach=10)
    p.delivered("a-1", "a", ("t",), ALL, {0: 500, 1: 500})
    p.delivered("b-1", "b", ("t",), ALL, {0: 0, 2: 0})
    assert p.ahead("a-1")
    p.delivered("b-1", "b", ("t",), {2, 3}, {})  # partition 0 went to another worker
    assert not p.ahead("a-1")
    p.delivered("a-1", "a", ("t",), {1}, {})
    p.delivered("b-1", "b", ("t",), {1, 2}, {1: 0})
    assert p.ahead("a-1")
