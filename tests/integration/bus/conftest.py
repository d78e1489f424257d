from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from caudal.bus.postgres import PostgresBus
from caudal.platform.bootstrap import Container
from caudal.platform.db.pool import Database
from caudal.platform.settings import BusSettings


def make_bus(container: Container, **overrides: object) -> PostgresBus:
    settings = BusSettings(
        partitions=4,
        batch_size=100,
        max_attempts=3,
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
        lease_seconds=1.5,
        poll_interval_seconds=0.2,
    ).model_copy(update=overrides)
    return PostgresBus(container.database, settings)


@pytest.fixture
async def bus(container: Container) -> AsyncIterator[PostgresBus]:
    await container.database.open()
    yield make_bus(container)
    await container.database.close()


@pytest.fixture
async def big_pool_bus(container: Container) -> AsyncIterator[PostgresBus]:
    database = Database(container.app_url, min_size=2, max_size=12)
    await database.open()
    yield PostgresBus(database, make_bus(container).settings)
    await database.close()
