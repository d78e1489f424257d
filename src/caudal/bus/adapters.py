"""The bus adapter the settings name (`CAUDAL_BUS__BACKEND`); `platform.bootstrap` calls it."""

from __future__ import annotations

from caudal.platform.bus.port import Bus
from caudal.platform.db.pool import Database
from caudal.platform.settings import Settings


def build_bus(settings: Settings, database: Database) -> Bus:
    """No I/O until the bus is used."""
    from caudal.bus.postgres import PostgresBus

    return PostgresBus(database, settings.bus)
