"""The customers capability: Bases A, B and C and the audit log over HTTP, the
`customers.activity` sink, and `caudal customers` / `caudal keys`."""

from __future__ import annotations

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

    async def start(self, container: Container) -> None:
        """The PII keys (the key file on first run) and the score cache; legacy master-wrapped
        data keys move into key epochs, and epoch keys a crash left behind are destroyed."""
        from caudal.customers import context
        from caudal.customers.base_a import key_epochs

        await super().start(container)
        state = context.build(container)
        container.states.provide(state)
        try:
            await key_epochs.upgrade_legacy(state, container.settings)
            await key_epochs.sweep(state)
        except Exception as exc:  # not migrated yet, database down: /readyz says so
            # Start anyway: legacy keys still open with the key file, and every start and every
            # erasure sweeps again.
            _log.warning("customer_keys_maintenance_deferred", error=type(exc).__name__)

    async def stop(self) -> None:
        from caudal.customers import context

        state = self.withdraw(context.Customers)
        if state is not None:
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

    def cli(self) -> typer.Typer:
        from caudal.customers.cli import app

        return app
