"""Bus fixtures (see tests/support/bus.py, bus_adapters.py and nats.py)."""

import pytest

from tests.support.bus import big_pool_bus, bus
from tests.support.bus_adapters import ADAPTERS, bus_adapter
from tests.support.nats import nats_server

__all__ = ["big_pool_bus", "bus", "bus_adapter", "nats_server"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bus_adapter" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("adapters")
        names = marker.args if marker else ADAPTERS
        metafunc.parametrize("bus_adapter", names, indirect=True)
