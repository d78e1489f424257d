"""The composition root: the capabilities that make up caudal, in start order.

Adding a capability is one `capability.py` in its package and one line here.
"""

from __future__ import annotations

from caudal.bus.capability import BusCapability
from caudal.customers.capability import CustomersCapability
from caudal.demo.capability import DemoCapability
from caudal.events.capability import EventsCapability
from caudal.events.router.capability import RouterCapability
from caudal.events.sinks.port import Sink
from caudal.ledger.capability import LedgerCapability
from caudal.pipelines.capability import PipelinesCapability
from caudal.platform.capability import Capability
from caudal.web.capability import WebCapability


def capabilities() -> list[Capability[Sink]]:
    """A fresh set for one process (each keeps what it starts). The router starts last: it
    routes events to the sinks of all the others."""
    found: list[Capability[Sink]] = [
        EventsCapability(),  # schema registry files, ingestion connections; lake, realtime sinks
        CustomersCapability(),  # PII keys (key file on first run), score cache; activity sink
        LedgerCapability(),
        PipelinesCapability(),
        BusCapability(),  # lag and dead-letter gauges in /metrics
        WebCapability(),
        DemoCapability(),
    ]
    return [*found, RouterCapability(found)]  # refuses a bad routes.yaml (file:line)


def migration_packages() -> list[str]:
    """The packages whose migrations make caudal's schema, as the capabilities declare them."""
    return [c.migrations for c in capabilities() if c.migrations is not None]
