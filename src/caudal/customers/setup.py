"""What the customers capability plugs into the platform besides its routers: the
`customers.activity` sink for the router's sink registry."""

from __future__ import annotations

from caudal.customers.base_c.sink import CustomersActivitySink
from caudal.customers.context import open_customers
from caudal.events.sinks.port import Sink
from caudal.platform.bootstrap import Container


def sinks(container: Container) -> list[Sink]:
    """`customers.activity`: Base C projections and Base B/C handling of Base A's events."""
    return [CustomersActivitySink(open_customers(container))]
