"""Start the background services alone: `caudal worker` (bus consumers) and `caudal scheduler`.

Nothing here imports the HTTP stack: these processes serve no request.
"""

from __future__ import annotations

import asyncio
import signal

import typer

from caudal import wiring
from caudal.cli.console import err, fail
from caudal.cli.support import bootstrap_or_exit
from caudal.platform import capability, collector
from caudal.platform.runtime import ServiceGroup
from caudal.platform.settings import Settings


def run_services(
    settings: Settings, roles: frozenset[str], groups: frozenset[str] | None = None
) -> None:
    """Run background services; `groups` limits the bus consumers to those groups."""
    container = bootstrap_or_exit(settings)

    async def main() -> None:
        await container.database.open()
        capabilities = wiring.capabilities()
        try:
            await capability.start_all(capabilities, container)
        except Exception as exc:
            await container.database.close()
            fail(f"could not start: {exc}", "fix the configuration named above and start again")
            raise typer.Exit(1) from exc
        services = capability.services(capabilities, container.bus, roles, groups)
        if groups is not None:
            known = {c.group for c in capability.consumers(capabilities)}
            unknown = sorted(groups - known)
            if unknown:
                fail(
                    f"unknown consumer group(s): {', '.join(unknown)}",
                    f"choose among: {', '.join(sorted(known))}",
                )
                await capability.stop_all(capabilities)
                await container.database.close()
                raise typer.Exit(2)
        group = ServiceGroup(services)
        collector.tune_for_streaming()  # started: what lives now lives as long as the process
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, group.stop_event.set)
        await group.start()
        err.print(
            f"running {len(group.services)} service(s): "
            + ", ".join(s.name for s in group.services)
        )
        await group.stop_event.wait()
        await group.stop(settings.http.graceful_shutdown_seconds)
        await capability.stop_all(capabilities)
        await container.database.close()

    try:
        asyncio.run(main())
    finally:
        container.close_embedded()
