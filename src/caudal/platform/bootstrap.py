"""Build the running system from settings: the one place where configuration is read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from caudal.platform import logging as caudal_logging
from caudal.platform.auth import TokenService, load_or_create_secret
from caudal.platform.bus.port import Bus
from caudal.platform.clock import SYSTEM_CLOCK, Clock
from caudal.platform.db import migrations
from caudal.platform.db.embedded import EmbeddedPostgres
from caudal.platform.db.pool import Database
from caudal.platform.db.urls import app_url
from caudal.platform.settings import Settings
from caudal.platform.state import States

# Builds the bus adapter the settings name (no I/O until used); the composition root chooses it.
BusFactory = Callable[[Settings, Database], Bus]


@dataclass
class Container:
    """Everything a process needs, built once at startup and handed to the app and workers."""

    settings: Settings
    owner_url: str
    app_url: str
    database: Database
    tokens: TokenService
    bus: Bus  # the durable bus (CAUDAL_BUS__BACKEND); publish here, consume via a Consumer
    embedded: EmbeddedPostgres | None = None
    clock: Clock = SYSTEM_CLOCK  # what domain logic asks the time (a FakeClock in tests)
    # Each capability's long-lived objects (registries, caches), provided when it starts.
    states: States = field(default_factory=States)

    def close_embedded(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def database_owner_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value(), None
    embedded = EmbeddedPostgres(settings.home)
    return embedded.start(), embedded


def run_migrations(
    settings: Settings,
    owner_url: str,
    on_apply: Any = None,
    packages: Sequence[str] | None = None,
) -> list[migrations.Migration]:
    """Apply the migrations of these packages (`wiring.migration_packages()`; default: all)."""
    password = settings.database_app_password
    return migrations.migrate(
        owner_url,
        app_role=settings.database_app_role,
        app_password=password.get_secret_value() if password else None,
        on_apply=on_apply,
        packages=packages,
    )


def bootstrap(
    settings: Settings | None = None,
    *,
    bus: BusFactory,
    clock: Clock = SYSTEM_CLOCK,
    migrate: bool = True,
    migration_packages: Sequence[str] | None = None,
    configure_logging: bool = True,
) -> Container:
    settings = settings or Settings()
    if configure_logging:
        caudal_logging.configure(settings.log_level, log_format=settings.log_format)
    settings.home.mkdir(parents=True, exist_ok=True)
    owner_url, embedded = database_owner_url(settings)
    if migrate:
        run_migrations(settings, owner_url, packages=migration_packages)
    secret = settings.auth.secret
    if secret is not None:
        secret_value: str | None = secret.get_secret_value()
    elif settings.auth.jwks_url:
        secret_value = None
    else:
        secret_value = load_or_create_secret(settings.home)
    url = app_url(settings, owner_url)
    database = Database(
        url,
        min_size=settings.database_pool_min,
        max_size=settings.database_pool_max,
        statement_timeout_ms=settings.database_statement_timeout_ms,
    )
    return Container(
        settings=settings,
        bus=bus(settings, database),
        owner_url=owner_url,
        app_url=url,
        database=database,
        tokens=TokenService(settings.auth, secret_value, clock),
        embedded=embedded,
        clock=clock,
    )
