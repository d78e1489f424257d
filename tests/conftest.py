"""Shared fixtures: a real PostgreSQL, settings, a container, an in-process HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from caudal import wiring
from caudal.bus.adapters import build_bus
from caudal.platform import scopes
from caudal.platform.bootstrap import Container, bootstrap
from caudal.platform.capability import Capability
from caudal.platform.http.app import create_app
from caudal.platform.settings import AuthSettings, Settings
from tests.support.postgres import PostgresCluster

TEST_SECRET = "test-secret-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def database_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    with pg_cluster.database() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return settings_for(tmp_path, database_url)


def settings_for(tmp_path: Path, database_url: str) -> Settings:
    """The tests' settings over this database (small pool, the test secret)."""
    return Settings(
        home=tmp_path / "home",
        env="test",
        database_url=SecretStr(database_url),
        database_pool_min=1,
        database_pool_max=4,
        auth=AuthSettings(secret=SecretStr(TEST_SECRET)),
    )


@pytest.fixture
def container(settings: Settings) -> Container:
    return bootstrap(settings, bus=build_bus, migrate=False, configure_logging=False)


@pytest.fixture
def capabilities() -> list[Capability[object]]:
    """The app's capabilities (started with it): `capability.services(capabilities, ...)`."""
    return list(wiring.capabilities())


@pytest.fixture
def app(container: Container, capabilities: list[Capability[object]]) -> FastAPI:
    return create_app(container, capabilities)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://caudal.test"
        ) as http,
    ):
        yield http


@pytest.fixture
def token(container: Container) -> Callable[..., str]:
    """`token("ledger:read", ...)` mints a token with those scopes; no argument: every scope."""

    def mint(*granted: str, subject: str = "tester", ttl: int = 600) -> str:
        return container.tokens.mint(subject, granted or scopes.ALL, ttl)

    return mint


@pytest.fixture
def auth(token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """`auth("events:write")` -> the Authorization header for such a token."""

    def header(*granted: str, subject: str = "tester") -> dict[str, str]:
        return {"Authorization": f"Bearer {token(*granted, subject=subject)}"}

    return header
