"""The log positions one consumer group of a process read, served to its other groups.

The lake and realtime groups of a worker read every message of `events`, each from its own
committed position. When one of them has read a partition's next positions from PostgreSQL,
the other, at the same position or at one inside what was read, takes those positions from
here, and its fetch skips that partition's scan of `bus.messages` (~2.5 µs of PostgreSQL and
~2 µs of the worker per row and group: `bench/profiles/README.md`, the `sinks` section).

Why the same positions are right: a fetch returns, after a position, the rows whose
transaction is below the snapshot horizon, in (xid, seq) order (`queries.sql`, `fetch`). Below
the horizon no transaction can still commit, and a later fetch's horizon is never lower, so
what one fetch returned after a position is the beginning of what any later fetch from there
returns: taking it is reading a moment earlier, never skipping a row committed late. A run is
only extended by a fetch that starts inside it and agrees with it on every row both hold (a
message erased in between makes them disagree: the run is then replaced), and a group takes
only rows after its own position.

Everything else stays per group and in PostgreSQL: the fetch still reads the group's
`bus.offsets` rows (leases, isolation, retry delays) and skips the scan only for a partition
whose stored position is the one the member expected; commits compare-and-set as before. A
group takes fewer rows than its batch from a run only when the run ends where its last read
found nothing more (so the lake does not linger on a delivery cut short), and only rows read
in the last `max_age` seconds. Bounded per partition; a group too far behind reads PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

# (xid as text, seq, message_id, published_at): a fetched position, as `fetch` returns it
Row = tuple[str, int, str, datetime]
Position = tuple[str, int]  # (xid as text, seq) of a committed position
RunKey = tuple[tuple[str, ...], int]  # the group's topics and the partition

DEFAULT_ROWS = 2048  # per partition: a few deliveries of the lake (625 per partition of 16)
DEFAULT_MAX_AGE_S = 5.0


class _Run:
    """Consecutive positions of one partition after `start`, as fetches read them."""

    __slots__ = ("ends_log", "index", "read_at", "rows", "start")

    def __init__(self, start: Position) -> None:
        self.start = start
        self.rows: list[Row] = []
        self.read_at: list[float] = []  # beside each row: when it was read
        self.index: dict[int, int] = {}  # seq -> index in rows
        self.ends_log = False  # the last read found nothing after its rows (below its horizon)

    def after(self, position: Position) -> int | None:
        """Index of the first row after `position`, or None when the run does not hold it."""
        if position == self.start:
            return 0
        i = self.index.get(position[1])
        if i is None or self.rows[i][0] != position[0]:
            return None
        return i + 1

    def extend(self, rows: Sequence[Row], now: float) -> None:
        at = len(self.rows)
        self.index.update((row[1], at + n) for n, row in enumerate(rows))
        self.rows.extend(rows)
        self.read_at.extend([now] * len(rows))

    def trim(self, keep: int) -> None:
        """Drop the oldest rows, keeping the last `keep`."""
        drop = len(self.rows) - keep
        if drop <= 0:
            return
        last = self.rows[drop - 1]
        self.start = (last[0], last[1])
        del self.rows[:drop], self.read_at[:drop]
        self.index = {row[1]: n for n, row in enumerate(self.rows)}


class FetchedRuns:
    def __init__(self, rows: int = DEFAULT_ROWS, max_age: float = DEFAULT_MAX_AGE_S) -> None:
        self.rows = rows
        self.max_age = max_age
        self._runs: dict[RunKey, _Run] = {}
        self.served = 0  # rows handed to a group instead of read from PostgreSQL

    def after(self, key: RunKey, position: Position, limit: int) -> list[Row] | None:
        """The next rows after `position` (up to `limit`), when a group of this process read
        them lately; None when the group must read PostgreSQL."""
        run = self._runs.get(key)
        if run is None:
            return None
        i = run.after(position)
        if i is None:
            return None
        rows = run.rows[i : i + limit]
        if not rows or (len(rows) < limit and not run.ends_log):
            return None
        if run.read_at[i] < time.monotonic() - self.max_age:
            return None
        self.served += len(rows)
        return rows

    def note(self, key: RunKey, start: Position, rows: Sequence[Row], ends_log: bool) -> None:
        """A fetch from `start` read `rows` (every row after it up to its limit or horizon);
        `ends_log`: it found no more."""
        if not rows:
            return
        now = time.monotonic()
        run = self._runs.get(key)
        i = None if run is None else run.after(start)
        if run is not None and i is not None and self._agrees(run.rows[i:], rows, ends_log):
            held = len(run.rows) - i
            if len(rows) > held:
                run.extend(rows[held:], now)
                run.ends_log = ends_log
        else:
            run = self._runs[key] = _Run(start)
            run.extend(rows, now)
            run.ends_log = ends_log
        if len(run.rows) > self.rows:
            run.trim(self.rows // 2)

    @staticmethod
    def _agrees(held: Sequence[Row], read: Sequence[Row], ends_log: bool) -> bool:
        """Whether a fresh read after the same position tells the same story as the run: the
        same rows where both have some, and no fewer rows when it found no more."""
        n = min(len(held), len(read))
        if ends_log and len(read) < len(held):
            return False  # rows the run holds are gone (erased)
        return all(a[1] == b[1] and a[0] == b[0] for a, b in zip(held[:n], read[:n], strict=True))
