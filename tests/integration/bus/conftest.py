"""Bus fixtures (see tests/support/bus.py)."""

from tests.support.bus import big_pool_bus, bus

__all__ = ["big_pool_bus", "bus"]
