"""`caudal demo`: live traffic through the HTTP API; a capability with one command, nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING

from caudal.platform.capability import CapabilityBase

if TYPE_CHECKING:
    import typer


class DemoCapability(CapabilityBase):
    name = "demo"

    commands = ("demo",)  # what cli() adds to `caudal`

    def cli(self) -> typer.Typer:
        from caudal.demo.cli import app

        return app
