"""The customers capability's long-lived objects, kept in `container.extensions["customers"]`."""

from __future__ import annotations

from dataclasses import dataclass

from caudal.bus.port import Bus
from caudal.customers.crypto import keyfile
from caudal.customers.crypto.vault import Vault
from caudal.customers.score.cache import ScoreCache
from caudal.customers.score.cache_memory import MemoryScoreCache
from caudal.platform.bootstrap import Container
from caudal.platform.db.pool import Database
from caudal.platform.errors import unavailable
from caudal.platform.settings import CustomersSettings

EXTENSION = "customers"


@dataclass
class Customers:
    settings: CustomersSettings
    database: Database
    bus: Bus
    vault: Vault
    cache: ScoreCache


def build_cache(container: Container) -> ScoreCache:
    url = container.settings.redis_url
    if url is not None:
        from caudal.customers.score.cache_redis import RedisScoreCache

        return RedisScoreCache(url.get_secret_value())
    return MemoryScoreCache()


def open_customers(container: Container) -> Customers:
    """Build once per process (from `wiring.start`); the key file is created on first run."""
    found = container.extensions.get(EXTENSION)
    if isinstance(found, Customers):
        return found
    customers = Customers(
        settings=container.settings.customers,
        database=container.database,
        bus=container.bus,
        vault=Vault(
            keyfile.load(container.settings), reload=lambda: keyfile.load(container.settings)
        ),
        cache=build_cache(container),
    )
    container.extensions[EXTENSION] = customers
    return customers


async def close_customers(container: Container) -> None:
    found = container.extensions.pop(EXTENSION, None)
    if isinstance(found, Customers):
        await found.cache.close()


def customers_of(container: Container) -> Customers:
    found = container.extensions.get(EXTENSION)
    if not isinstance(found, Customers):
        raise unavailable("the customers capability is not started")
    return found
