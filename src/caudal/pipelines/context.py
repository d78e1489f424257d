"""The pipelines' long-lived objects of one process (provided by `pipelines.capability`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from caudal.pipelines.runner import Claim, Runner
from caudal.platform.bootstrap import Container


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


def get(container: Container) -> Pipelines:
    return container.states.get(Pipelines)
