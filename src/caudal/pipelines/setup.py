"""What the pipelines domain plugs into the process (called from `caudal.wiring`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from caudal.pipelines.runner import Claim, Runner
from caudal.pipelines.scheduler import UserCartsScheduler
from caudal.platform.bootstrap import Container
from caudal.platform.runtime import Service

KEY = "pipelines"


@dataclass
class Pipelines:
    runner: Runner
    background: set[asyncio.Task[object]] = field(default_factory=set)

    def launch(self, claim: Claim) -> None:
        """Run a claimed run in the background (an HTTP trigger answers 202 at once)."""
        task: asyncio.Task[object] = asyncio.create_task(
            self.runner.execute(claim), name=f"pipelines.run.{claim.record.id}"
        )
        self.background.add(task)
        task.add_done_callback(self.background.discard)


def extension(container: Container) -> Pipelines:
    found = container.extensions.get(KEY)
    if found is None:
        found = Pipelines(Runner(container.settings, container.app_url))
        container.extensions[KEY] = found
    assert isinstance(found, Pipelines)
    return found


def services(container: Container) -> list[Service]:
    conf = container.settings.pipelines
    if not conf.schedule_enabled:
        return []
    return [UserCartsScheduler(extension(container).runner, conf.user_carts_cron, conf.source)]


async def start(container: Container) -> None:
    extension(container)


async def stop(container: Container) -> None:
    """Let background runs finish (up to the graceful-shutdown time) before closing."""
    found = container.extensions.get(KEY)
    if isinstance(found, Pipelines) and found.background:
        await asyncio.wait(
            list(found.background), timeout=container.settings.http.graceful_shutdown_seconds
        )
