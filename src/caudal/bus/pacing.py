"""The groups of one process that read the same topics kept within reach of its shared caches.

The lake and realtime groups of a worker read every message of `events`; the first to read a
message decodes it and the other takes the same object (`message_cache.py`), and the positions
one read are served to the other (`fetched_runs.py`). Both caches are bounded, so that sharing
holds only while the groups read within a few deliveries of each other. In a backlog the
faster group (realtime) drew ahead, the slower (the lake) then fell out of the caches and read
and decoded every message again, which slowed it further. Draining 800,000 events
(`bench/drain_cpu.py`, three runs each): the lake at 13.5-17.4k events/s and 49.5-67 µs of worker
CPU per event with the groups drifting apart, 17.9-21.7k and 40-50 µs with this pacing
(bench/profiles/README.md).

So a member of an unfiltered group that is more than `reach` positions (bus sequence numbers:
about the messages published in between, over every partition, which is what the caches must
hold) ahead of a member of another group of the process on a partition both read waits a
little before its next read, for that member to come closer. Never for long: at most
`max_wait` per delivery, and only for a member that delivered on that partition in the last
`fresh` seconds. A member that is stalled, lingering in a trickle, stopped or gone is not
waited for, so no group ever holds another back for more than a bounded pause per delivery.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Set
from dataclasses import dataclass, field

DEFAULT_FRESH_S = 2.0  # a member's position counts this long after its last delivery there
DEFAULT_MAX_WAIT_S = 0.25  # the longest pause before one read
DEFAULT_STEP_S = 0.01  # how often a waiting member looks again


@dataclass
class _Reader:
    group: str
    topics: tuple[str, ...]
    at: dict[int, tuple[int, float]] = field(default_factory=dict)  # partition -> (seq, when)


class Pacing:
    def __init__(
        self,
        reach: int,
        fresh: float = DEFAULT_FRESH_S,
        max_wait: float = DEFAULT_MAX_WAIT_S,
        step: float = DEFAULT_STEP_S,
    ) -> None:
        self.reach = reach
        self.fresh = fresh
        self.max_wait = max_wait
        self.step = step
        self._readers: dict[str, _Reader] = {}  # by member id

    def delivered(
        self,
        member: str,
        group: str,
        topics: tuple[str, ...],
        owned: Set[int],
        through: Mapping[int, int],
    ) -> None:
        """`member` delivered `through` (partition -> last sequence number); it reads `owned`."""
        reader = self._readers.get(member)
        if reader is None:
            reader = self._readers[member] = _Reader(group, topics)
        now = time.monotonic()
        for partition in [p for p in reader.at if p not in owned]:
            del reader.at[partition]
        for partition, seq in through.items():
            reader.at[partition] = (seq, now)

    def left(self, member: str) -> None:
        self._readers.pop(member, None)

    def ahead(self, member: str) -> bool:
        """Whether `member` is more than `reach` ahead of a fresh reader of another group on a
        partition of the same topics."""
        mine = self._readers.get(member)
        if mine is None or not mine.at:
            return False
        since = time.monotonic() - self.fresh
        for other_id, other in self._readers.items():
            if other_id == member or other.group == mine.group or other.topics != mine.topics:
                continue
            for partition, (seq, when) in other.at.items():
                own = mine.at.get(partition)
                if own is not None and when >= since and own[0] - seq > self.reach:
                    return True
        return False
