"""The garbage collector tuned for a process that streams events (`caudal worker`, and the
API processes of `caudal up` and `caudal api`, which stream requests the same way).

CPython collects its youngest generation every 700 net allocations of container objects, and
walks the whole heap after ten of those rounds have run ten times (unless the heap grew little).
A worker decodes thousands of JSON payloads a second (each a few dicts and lists, all tracked by
the collector) and keeps a few deliveries of them alive on purpose (the bus's decoded messages,
the lake's batches): the collector walked that live heap over and over, and found next to no
garbage, since reference counting frees these objects as soon as a delivery is done. In a
100,000-event drain it ran 19 full collections, 2.5-3.7 s: ~20 % of the worker's CPU.

So a streaming process collects its young objects every 50,000 allocations, its older ones
twenty times less often each, and takes the objects of its start-up (modules, settings, routes:
they live as long as the process) out of every collection.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 20)  # (young allocations, young rounds per middle, middle per full)


def tune_for_streaming() -> None:
    """Call once start-up is done, before the stream starts."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
