"""The ledger capability: its HTTP APIs, the posting engine (a consumer group), the nightly
reconciliation, and `caudal ledger`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from caudal.platform.capability import CapabilityBase

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from caudal.ledger.consumer import PostingConsumer
    from caudal.platform.bootstrap import Container
    from caudal.platform.bus.port import Consumer
    from caudal.platform.runtime import Service


class LedgerCapability(CapabilityBase):
    name = "ledger"
    migrations = "caudal.ledger"

    async def start(self, container: Container) -> None:
        from caudal.ledger import context

        await super().start(container)
        container.states.provide(context.build(container))

    async def stop(self) -> None:
        from caudal.ledger import context

        self.withdraw(context.Ledger)

    def routers(self) -> Sequence[APIRouter]:
        from caudal.ledger import api, flowapi

        return [api.router, flowapi.router]

    def consumers(self) -> Sequence[Consumer]:
        """The posting engine (role "worker"): `caudal worker --group ledger-posting`."""
        return [posting_consumer(self.container)]

    def services(self) -> Sequence[Service]:
        """The nightly reconciliation (role "scheduler")."""
        from caudal.ledger.scheduler import ReconcileScheduler

        settings = self.container.settings.ledger
        if not settings.reconcile_enabled:
            return []
        c = self.container
        return [ReconcileScheduler(c.database, settings.reconcile_cron, c.clock)]

    commands = ("ledger",)  # what cli() adds to `caudal`

    def cli(self) -> typer.Typer:
        from caudal.ledger.cli import app

        return app


def posting_consumer(container: Container) -> PostingConsumer:
    """A member of the posting group (also what tests and benchmarks run on the real bus)."""
    from caudal.ledger.consumer import PostingConsumer
    from caudal.ledger.engine import PostingEngine

    settings = container.settings.ledger
    return PostingConsumer(
        PostingEngine(container.database, container.bus),
        settings.consumer_group,
        settings.topic,
        settings.posting_batch_size,
    )
