"""What the intake's scan for unmarked personal data (`events/pii_guard.py`) costs per request.

    .venv/bin/python bench/pii_guard_cost.py

In process, no server, on `bench/ingest_http.py`'s bodies (1 and 20 events, nothing
CPF-shaped: the hot path): the guard's own parts (the raw-byte filter; the scan of every item's
data, names only and with the value check on), then `Intaker.frontend` with the guard disabled,
as shipped, and with its value check forced on (what a body holding CPF-shaped digits pays).
Best of 7 repeats. The parts are the precise figure; on a loaded machine the whole intake's
differences are within its noise.
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
from caudal.events.intake import FRONTEND_ENVELOPE, Intaker, Limits
from caudal.events.registry import Registry


def best_us(fn: Callable[[], Any], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def row(events: int, registry: Registry) -> str:
    raw = frontend_body(events)
    body = orjson.loads(raw)
    assert not personal.may_hold_cpf(raw)
    number = 20000 // events
    kw: dict[str, Any] = {"received_at": datetime.now(UTC), "trace_key": None, "subject": "s"}
    intaker = Intaker(registry, Limits())
    items = []
    for item in body["data"]:
        entry = registry.for_frontend(item["event_id"], "1.0")
        data = {k: v for k, v in item.items() if k not in FRONTEND_ENVELOPE}
        items.append((None if entry is None else entry.declared, data))

    def scan(values: bool) -> None:
        for declared, data in items:
            pii_guard.scan(declared, data, values)

    filtered = best_us(lambda: personal.may_hold_cpf(raw), 20000)
    names = best_us(lambda: scan(False), number)
    values = best_us(lambda: scan(True), number)
    off = mock.patch.object(personal, "may_hold_cpf", lambda raw: False)
    with off, mock.patch.object(pii_guard, "scan", lambda *a, **k: None):
        bare = best_us(lambda: intaker.frontend(body, raw=raw, **kw), number)
    guarded = best_us(lambda: intaker.frontend(body, raw=raw, **kw), number)
    forced = best_us(lambda: intaker.frontend(body, raw=None, **kw), number)
    return (
        f"{'x' + str(events):>5} {len(raw):>6} {filtered:>7.2f} {names:>7.2f} {values:>7.2f}"
        f" {bare:>9.1f} {guarded:>8.1f} {forced:>8.1f}"
    )


def main() -> None:
    registry = Registry(registry_files.shipped())
    print("                     guard's parts          Intaker.frontend")
    print(
        f"{'body':>5} {'bytes':>6} {'filter':>7} {'names':>7} {'+values':>7}"
        f" {'no guard':>9} {'shipped':>8} {'+values':>8}   (us per request)"
    )
    for events in (1, 20):
        print(row(events, registry))


if __name__ == "__main__":
    main()
