"""Start the background services alone: `caudal worker` (bus consumers) and `caudal scheduler`.

Nothing here imports the HTTP stack: these processes serve no request.
"""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING

import typer

from caudal import wiring
from caudal.cli.console import err, fail
from caudal.cli.support import bootstrap_or_exit
from caudal.platform import capability, collector
from caudal.platform.runtime import ServiceGroup
from caudal.platform.settings import Settings

if TYPE_CHECKING:
    from caudal.cli.supervisor import ChildLink


def run_up_worker(settings: Settings, index: int) -> None:
    """`caudal up-worker`: a worker process of `caudal up` (`cli.supervisor`), started by it
    with its settings and home. It runs every consumer group but those the API process keeps
    (`api_process_groups`) and, the first one, the scheduler; it migrates nothing (the parent
    did) and reaches the parent's database (the embedded one by its URL: it neither starts
    nor stops it)."""
    from caudal.cli.supervisor import ChildLink, roles_of
    from caudal.platform import logging as caudal_logging

    caudal_logging.name_process(f"worker-{index}")
    run_services(settings, roles_of(index), link=ChildLink.from_environment(), migrate=False)


def run_services(
    settings: Settings,
    roles: frozenset[str],
    groups: frozenset[str] | None = None,
    *,
    link: ChildLink | None = None,
    migrate: bool = True,
) -> None:
    """Run background services; `groups` limits the bus consumers to those groups. With
    `link` (a `caudal up` worker process), the groups the API process keeps are left out, and
    the process stops when its parent goes."""
    container = bootstrap_or_exit(settings, migrate=migrate)

    async def main() -> None:
        await container.database.open()
        capabilities = wiring.capabilities()
        try:
            await capability.start_all(capabilities, container)
        except Exception as exc:
            await container.database.close()
            fail(f"could not start: {exc}", "fix the configuration named above and start again")
            raise typer.Exit(1) from exc
        exclude = capability.api_process_groups(capabilities) if link else frozenset()
        services = capability.services(capabilities, container.bus, roles, groups, exclude)
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
        if link is not None:
            link.watch_parent(group.stop_event.set)
        await group.start()
        err.print(
            f"running {len(group.services)} service(s): "
            + ", ".join(s.name for s in group.services)
        )
        if link is not None:
            await link.announce_running()
        await group.stop_event.wait()
        await group.stop(settings.http.graceful_shutdown_seconds)
        if link is not None:
            await link.close()
        await capability.stop_all(capabilities)
        await container.database.close()

    try:
        asyncio.run(main())
    finally:
        container.close_embedded()
