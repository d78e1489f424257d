"""What every `caudal` command shares: settings with a hint on a bad value, a bootstrapped
container (or a clean exit), and running async work against it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from caudal.cli.console import err, fail

if TYPE_CHECKING:
    from caudal.platform.bootstrap import Container
    from caudal.platform.settings import Settings

T = TypeVar("T")


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with CLI flags on top; a bad value exits with a hint."""
    # Imported when a command runs: pydantic and the settings classes are ~0.2 s that parsing
    # the command line and printing help do without.
    from pydantic import ValidationError

    from caudal.platform.settings import Settings

    try:
        base = Settings()
        return base.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        fail(
            f"invalid setting {where}: {first['msg']}",
            f"fix CAUDAL_{where.upper().replace('.', '__')} in the environment",
        )
        raise typer.Exit(2) from exc


def bootstrap_or_exit(settings: Settings, *, migrate: bool = True) -> Container:
    """The container (database started or reached, migrations applied unless `migrate` is
    False), or exit 1 with a hint."""
    from caudal.bus.adapters import build_bus
    from caudal.platform.bootstrap import bootstrap

    try:
        with err.status(
            "Starting embedded PostgreSQL and applying migrations…"
            if settings.embedded_database
            else "Connecting to PostgreSQL and applying migrations…"
        ):
            return bootstrap(settings, bus=build_bus, migrate=migrate)
    except Exception as exc:
        fail(
            f"could not prepare the database: {type(exc).__name__}: {exc}",
            "run `caudal doctor` to check the configuration",
        )
        raise typer.Exit(1) from exc


def run_with_container(
    work: Callable[[Container], Awaitable[T]], settings: Settings | None = None
) -> T:
    """Bootstrap, open the database pool, run `work(container)`, and close everything again
    (the embedded PostgreSQL included) whatever happens."""
    container = bootstrap_or_exit(settings or load_settings())

    async def main() -> T:
        await container.database.open()
        try:
            await container.database.pool.wait(timeout=30)
            return await work(container)
        finally:
            await container.database.close()

    try:
        return asyncio.run(main())
    finally:
        container.close_embedded()
