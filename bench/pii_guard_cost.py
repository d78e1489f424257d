"""What the intake's scan for unmarked personal data (`events/pii_guard.py`) costs per request.

    .venv/bin/python bench/pii_guard_cost.py

In process, no server: `Intaker.frontend` on `bench/ingest_http.py`'s bodies (1 and 20 events,
nothing CPF-shaped: the hot path), with the guard as shipped, with it disabled, and with its
value check forced on (the cost a body holding CPF-shaped digits pays). Best of 7 repeats, so
other load on the machine inflates the figures less than an HTTP run's.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import orjson
from ingest_http import frontend_body

from caudal.events import personal, pii_guard, registry_files
from caudal.events.intake import Intaker, Limits
from caudal.events.registry import Registry


def best_us(fn: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def main() -> None:
    intaker = Intaker(Registry(registry_files.shipped()), Limits())
    kw: dict[str, Any] = {"received_at": datetime.now(UTC), "trace_key": None, "subject": "s"}
    print(
        f"{'body':>6} {'bytes':>6} {'filter':>8} {'no guard':>9} {'guard':>8} {'+values':>8}  (us)"
    )
    for events in (1, 20):
        raw = frontend_body(events)
        body = orjson.loads(raw)
        number = 20000 // events
        assert not personal.may_hold_cpf(raw)
        filter_us = best_us(lambda: personal.may_hold_cpf(raw), 20000)  # noqa: B023
        guarded = best_us(lambda: intaker.frontend(body, raw=raw, **kw), number)  # noqa: B023
        forced = best_us(lambda: intaker.frontend(body, raw=None, **kw), number)  # noqa: B023
        off = mock.patch.object(personal, "may_hold_cpf", lambda raw: False)
        with off, mock.patch.object(pii_guard, "scan", lambda *a, **k: None):
            bare = best_us(lambda: intaker.frontend(body, raw=raw, **kw), number)  # noqa: B023
        print(
            f"{'x' + str(events):>6} {len(raw):>6} {filter_us:>8.2f} {bare:>9.1f} {guarded:>8.1f}"
            f" {forced:>8.1f}"
        )
    print(
        "filter: personal.may_hold_cpf(raw); no guard: frontend() with the filter and"
        " pii_guard.scan disabled;"
        " guard: as shipped (names checked, values skipped: nothing CPF-shaped);"
        " +values: the value check forced on (raw=None)"
    )


if __name__ == "__main__":
    main()
