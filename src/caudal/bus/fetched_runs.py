"""The log positions one consumer group of a process read, served to its other groups.

The lake and realtime groups of a worker read every message of `events`, each from its own
committed position. When one of them has read a partition's next positions from PostgreSQL,
the other, at the same position or at one inside what was read, takes those positions from
here, and its fetch scans `bus.messages` only past them (~2.5 µs of PostgreSQL and ~2 µs of
the worker per row and group: `bench/profiles/README.md`, the `sinks` section).

Why the same positions are right: a fetch returns, after a position, the rows whose
transaction is below the snapshot horizon, in (xid, seq) order (`queries.sql`, `fetch`). Below
the horizon no transaction can still commit, and a later fetch's horizon is never lower, so
what one fetch returned after a position is the beginning of what any later fetch from there
returns, and the rows a fetch finds past them below its own horizon are the rest of it (a row
between two held ones has a transaction below the old horizon, so the old read had it): never a
row committed late skipped. A run is
only extended by a fetch that starts inside it and agrees with it on every row both hold (a
message erased in between makes them disagree: the run is then replaced), and a group takes
only rows after its own position.

The member takes the rows held after its position and reads from PostgreSQL only what follows
them (up to its batch), so its deliveries are what a plain read would have made them.
Everything else stays per group and in PostgreSQL: the fetch still reads the group's
`bus.offsets` rows (leases, isolation, retry delays) and starts after the held rows only for a
partition whose stored position is the one the member expected; commits compare-and-set as
before. A member's prefetch (`postgres_consumer.py`) reads, the same way, after the last
position of the batch it is still writing, expecting the stored position to be that batch's
start: the argument above is about what a fetch after a position returns, whoever committed
it, so the rows read early are what a read after the commit would begin with; they are
delivered only once that commit has moved the stored position to where they start.
Only rows read in the last `max_age` seconds are served; bounded per partition; a group too far
behind the others reads everything from PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

# (xid as text, seq, message_id, published_at): a fetched position, as `fetch` returns it
Row = tuple[str, int, str, datetime]
Position = tuple[str, int]  # (xid as text, seq) of a committed position
RunKey = tuple[tuple[str, ...], int]  # the group's topics and the partition

DEFAULT_ROWS = 4096  # per partition: a few deliveries of the lake (625 per partition of 16)
DEFAULT_MAX_AGE_S = 5.0


class _Run:
    """Consecutive positions of one partition after `start`, as fetches read them."""

    __slots__ = ("index", "read_at", "rows", "start")

    def __init__(self, start: Position) -> None:
        self.start = start
        self.rows: list[Row] = []
        self.read_at: list[float] = []  # beside each row: when it was read
        self.index: dict[int, int] = {}  # seq -> index in rows

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

    def fresh(self, now: float, max_age: float) -> bool:
        """Whether its latest rows were read lately (a group still reads past it)."""
        return bool(self.read_at) and self.read_at[-1] >= now - max_age

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
        self.offered = 0  # rows offered to a group instead of a read from PostgreSQL

    def after(self, key: RunKey, position: Position, limit: int) -> list[Row]:
        """The next rows after `position` (up to `limit`) that a group of this process read
        lately; the member reads what follows them from PostgreSQL."""
        run = self._runs.get(key)
        i = None if run is None else run.after(position)
        if run is None or i is None or i == len(run.rows):
            return []
        if run.read_at[i] < time.monotonic() - self.max_age:
            return []
        rows = run.rows[i : i + limit]
        self.offered += len(rows)
        return rows

    def note(self, key: RunKey, start: Position, rows: Sequence[Row]) -> None:
        """A fetch from `start` read `rows`: every row after it, up to its limit or horizon."""
        if not rows:
            return
        now = time.monotonic()
        run = self._runs.get(key)
        if run is not None:
            i = run.after(start)
            if i is None and run.fresh(now, self.max_age) and _order(start) < _order(run.start):
                # A group behind the run (far behind another group): the run stays for when
                # it gets there; what it read reaches into the run, or lies wholly before it.
                if _order(rows[-1]) < _order(run.start):
                    return
                j = _index(rows, run.start)
                if j is not None:
                    i, rows = 0, rows[j + 1 :]
            if i is not None and _agree(run.rows[i:], rows):
                held = len(run.rows) - i
                if len(rows) > held:
                    run.extend(rows[held:], now)
            else:
                run = None
        if run is None:
            run = self._runs[key] = _Run(start)
            run.extend(rows, now)
        if len(run.rows) > self.rows:
            run.trim(self.rows * 3 // 4)


def _order(position: Row | Position) -> tuple[int, int]:
    """A position's place in the log: (xid, seq), the transaction id compared as a number."""
    return int(position[0]), position[1]


def _index(rows: Sequence[Row], position: Position) -> int | None:
    """Where `position` is in `rows` (None: not there, e.g. erased since)."""
    return next(
        (n for n, row in enumerate(rows) if row[1] == position[1] and row[0] == position[0]),
        None,
    )


def _agree(held: Sequence[Row], read: Sequence[Row]) -> bool:
    """Whether a fresh read after a position holds the same rows as the run where both have
    some (a message erased between the two reads makes them differ)."""
    n = min(len(held), len(read))
    return all(a[1] == b[1] and a[0] == b[0] for a, b in zip(held[:n], read[:n], strict=True))
