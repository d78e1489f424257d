"""The customers capability: Bases A, B and C and the audit log over HTTP, the
`customers.activity` sink, and `caudal customers` / `caudal keys`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog

from caudal.platform.capability import CapabilityBase

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from caudal.events.sinks.port import Sink
    from caudal.platform.bootstrap import Container


_log = structlog.get_logger("caudal.customers")


class CustomersCapability(CapabilityBase):
    name = "customers"
    migrations = "caudal.customers"
    # The `customers.activity` sink invalidates the score cache (`customers.cache`) when Base
    # C changes; without CAUDAL_REDIS_URL that cache is `MemoryScoreCache`, in the memory of
    # the process serving `/clientes/{id}/score-data`. Run anywhere else (a `caudal up`
    # worker child), the invalidation would reach another process's cache and the API would
    # serve a stale score until its TTL: the group stays in the API process.
    api_process_groups = ("customers.activity",)
    _upkeep: asyncio.Task[None] | None = None

    async def start(self, container: Container) -> None:
        """The PII keys (the key file on first run) and the score cache; legacy master-wrapped
        data keys move into key epochs, and epoch keys a crash left behind are destroyed; the
        events intake's CPF tokenizer (`events.pii`), which needs the index key."""
        from caudal.customers import context
        from caudal.customers.base_a import key_epochs
        from caudal.customers.event_tokens import CpfTokens
        from caudal.events.pii import Tokenizers

        await super().start(container)
        state = context.build(container)
        container.states.provide(state)
        container.states.provide(Tokenizers(cpf=CpfTokens(state.vault)))

        async def upkeep() -> None:
            # Off the startup path: a process must start (and /readyz say why it is not ready)
            # while the database is down or not migrated yet. Legacy keys still open with the
            # key file meanwhile; every start and every erasure sweeps again.
            try:
                await key_epochs.upgrade_legacy(state, container.settings)
                await key_epochs.sweep(state)
            except Exception as exc:
                _log.warning("customer_keys_maintenance_deferred", error=type(exc).__name__)

        self._upkeep = asyncio.create_task(upkeep(), name="customers-key-epochs")

    async def stop(self) -> None:
        from caudal.customers import context
        from caudal.events.pii import Tokenizers

        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep
            self._upkeep = None
        self.withdraw(Tokenizers)
        state = self.withdraw(context.Customers)
        if state is not None:
            await state.consultas.close()
            await state.cache.close()

    def sinks(self) -> Sequence[Sink]:
        """`customers.activity`: Base C projections and Base B/C handling of Base A's events."""
        from caudal.customers import context
        from caudal.customers.base_c.sink import CustomersActivitySink

        return [CustomersActivitySink(context.customers_of(self.container))]

    def routers(self) -> Sequence[APIRouter]:
        from caudal.customers import audit_routes
        from caudal.customers.base_a import routes as base_a
        from caudal.customers.base_b import routes as base_b
        from caudal.customers.base_c import routes as base_c

        return [base_a.router, base_b.router, base_c.router, audit_routes.router]

    commands = ("customers", "keys")  # what cli() adds to `caudal`

    def cli(self) -> typer.Typer:
        from caudal.customers.cli import app

        return app
