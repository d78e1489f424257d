"""The customers capability's long-lived objects in a process (see `customers.capability`)."""

from __future__ import annotations

from dataclasses import dataclass

from caudal.customers.base_c.store import consulta_reads
from caudal.customers.crypto import keyfile
from caudal.customers.crypto.epochs import EpochKeys
from caudal.customers.crypto.vault import Vault
from caudal.customers.derived_erasure import DerivedCopies
from caudal.customers.score.cache import ScoreCache
from caudal.customers.score.cache_memory import MemoryScoreCache
from caudal.platform.bootstrap import Container
from caudal.platform.bus.port import Bus
from caudal.platform.db.batched_reads import BatchedReads
from caudal.platform.db.pool import Database
from caudal.platform.kms_backend import build_kms
from caudal.platform.settings import CustomersSettings, Settings


@dataclass
class Customers:
    settings: CustomersSettings
    database: Database
    bus: Bus
    vault: Vault
    cache: ScoreCache
    copies: DerivedCopies
    consultas: BatchedReads[bytes, bytes]  # `/consultar`'s group reads (base_c.store)


def build_vault(settings: Settings) -> Vault:
    return Vault(
        keyfile.load(settings),
        EpochKeys(build_kms(settings)),
        reload=lambda: keyfile.load(settings),
    )


def build_copies(settings: Settings) -> DerivedCopies:
    lake_url = settings.lake.url or f"file://{settings.home / 'lake'}"
    return DerivedCopies(lake_url, settings.bus.backend, settings.bus.partitions)


def build_cache(container: Container) -> ScoreCache:
    url = container.settings.redis_url
    if url is not None:
        from caudal.customers.score.cache_redis import RedisScoreCache

        return RedisScoreCache(url.get_secret_value())
    return MemoryScoreCache()


def build(container: Container) -> Customers:
    """Once per process (at start); the key file is created on first run."""
    return Customers(
        settings=container.settings.customers,
        database=container.database,
        bus=container.bus,
        vault=build_vault(container.settings),
        cache=build_cache(container),
        copies=build_copies(container.settings),
        consultas=consulta_reads(
            container.app_url,
            statement_timeout_ms=container.settings.database_statement_timeout_ms,
        ),
    )


def customers_of(container: Container) -> Customers:
    return container.states.get(Customers)
