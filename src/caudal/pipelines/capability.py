"""The pipelines capability: the run history and trigger over HTTP, the daily schedule, and
`caudal pipeline` / `caudal fakestore`."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from caudal.platform.capability import CapabilityBase

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from caudal.platform.bootstrap import Container
    from caudal.platform.runtime import Service


class PipelinesCapability(CapabilityBase):
    name = "pipelines"
    migrations = "caudal.pipelines"  # its tables: pipelines/migrations/*.sql

    async def start(self, container: Container) -> None:
        from caudal.pipelines.context import Pipelines
        from caudal.pipelines.runner import Runner

        await super().start(container)
        container.states.provide(Pipelines(Runner(container.settings, container.app_url)))

    async def stop(self) -> None:
        """Let background runs finish (up to the graceful-shutdown time) before closing."""
        from caudal.pipelines.context import Pipelines

        found = self.withdraw(Pipelines)
        if found is not None and found.background:
            timeout = self.container.settings.http.graceful_shutdown_seconds
            await asyncio.wait(list(found.background), timeout=timeout)

    def services(self) -> Sequence[Service]:
        """The daily schedule (role "scheduler")."""
        from caudal.pipelines import context
        from caudal.pipelines.scheduler import UserCartsScheduler

        conf = self.container.settings.pipelines
        if not conf.schedule_enabled:
            return []
        runner = context.get(self.container).runner
        return [UserCartsScheduler(runner, conf.user_carts_cron, conf.source, self.container.clock)]

    def routers(self) -> Sequence[APIRouter]:
        from caudal.pipelines.api import router

        return [router]

    commands = ("pipeline", "fakestore")  # what cli() adds to `caudal`

    def cli(self) -> typer.Typer:
        from caudal.pipelines.cli import app

        return app
