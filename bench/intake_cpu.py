"""CPU per request of the ingestion hops before the database, in this process: the body parse
(orjson and the number range check), the intake (envelopes, schema fast path, PII guard,
canonical events), `Intake.messages()` and the bus's publish parameters, for `hot_path.py`'s
frontend bodies of 1 and 20 events. `time.process_time`, best of 5, so the figure holds on a
loaded machine; compare source trees by pointing PYTHONPATH at them:

    PYTHONPATH=src .venv/bin/python bench/intake_cpu.py
    PYTHONPATH=/path/to/other/src .venv/bin/python bench/intake_cpu.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from ingest_http import frontend_body

from caudal.bus.postgres import PostgresBus
from caudal.events import registry_files
from caudal.events.api import _parse
from caudal.events.intake import Intaker, Limits
from caudal.events.registry import Registry
from caudal.platform.settings import BusSettings


def best(work: Callable[[], object], count: int) -> float:
    """µs of CPU per call, the best of 5 runs of `count` calls."""
    runs = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(count):
            work()
        runs.append((time.process_time() - started) / count * 1e6)
    return min(runs)


def main() -> None:
    intaker = Intaker(Registry(registry_files.shipped()), Limits())
    bus = PostgresBus.__new__(PostgresBus)  # only its publish parameters: no database
    bus.settings = BusSettings()
    now = datetime.now(UTC)
    kw = {"received_at": now, "trace_key": "trace", "subject": "bench"}
    for events in (1, 20):
        raw = frontend_body(events)
        body = _parse(raw)
        intake = intaker.frontend(body, raw=raw, **kw)  # type: ignore[arg-type]
        assert not intake.rejections, intake.rejections
        messages = intake.messages()
        count = 20_000 // events

        def intake_again(body: object = body, raw: bytes = raw) -> object:
            return intaker.frontend(body, raw=raw, **kw)  # type: ignore[arg-type]

        hops = {
            "parse": best(lambda raw=raw: _parse(raw), count),
            "intake": best(intake_again, count),
            "messages": best(intake.messages, count),
            "params": best(lambda messages=messages: bus._params(messages), count),
        }
        total = sum(hops.values())
        shown = "  ".join(f"{name} {cost:.1f}" for name, cost in hops.items())
        print(f"x{events}: {shown}  total {total:.1f} µs/request = {total / events:.1f} µs/event")


if __name__ == "__main__":
    main()
