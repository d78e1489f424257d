"""The one shape of a capability (events, customers, ledger, pipelines, ...), and running a list.

A capability declares what it plugs into a process: HTTP routers, bus consumer groups, sinks
for the events router, background services and a command-line group. `caudal.wiring` lists
the capabilities; the platform runs whatever list it is given and knows none of them.

Lifecycle: `start(container)` builds the capability's typed state (and provides it in
`container.states` for its routes); `consumers()`, `sinks()` and `services()` are asked after
`start`; `stop()` closes what `start` opened and is safe to call when `start` did not run.
`routers()`, `commands` and `cli()` need no start: the app and the command line are built before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from caudal.platform.bus.worker import ConsumerService

if TYPE_CHECKING:  # annotations only: `caudal --help` builds the CLI from capabilities, lightly
    import typer
    from fastapi import APIRouter

    from caudal.platform.bootstrap import Container
    from caudal.platform.bus.port import Bus, Consumer
    from caudal.platform.runtime import Service

# What a sink is belongs to the events router, not to the platform: the composition root names
# it (`Capability[Sink]`), the platform never looks inside one.
SinkT_co = TypeVar("SinkT_co", covariant=True)
T = TypeVar("T")


class Capability(Protocol[SinkT_co]):
    name: str

    @property
    def migrations(self) -> str | None:
        """The package whose `migrations/` folder holds this capability's tables (None: none)."""

    def routers(self) -> Sequence[APIRouter]:
        """The HTTP routers (mounted by `create_app`)."""

    def consumers(self) -> Sequence[Consumer]:
        """Bus consumer groups; each runs as a "worker" service (`caudal worker --group`)."""

    def sinks(self) -> Sequence[SinkT_co]:
        """Sinks the events router may deliver to, by the name routes.yaml uses."""

    def services(self) -> Sequence[Service]:
        """Background services (role "worker" or "scheduler")."""

    async def start(self, container: Container) -> None:
        """Build the long-lived state for this process; raise to refuse to start."""

    async def stop(self) -> None:
        """Close what `start` opened (a no-op when it did not run)."""

    @property
    def api_process_groups(self) -> Sequence[str]:
        """The consumer groups that must run in the process serving this capability's API
        (state they change lives in that process's memory); when `caudal up` runs its
        workers in child processes, these stay in the API process and the children run the
        others."""

    @property
    def commands(self) -> Sequence[str]:
        """The names of the top-level `caudal` commands that `cli()` adds: the command line
        lists them without building them (`cli()` runs when one is used)."""

    def cli(self) -> typer.Typer | None:
        """The `caudal` sub-commands of this capability, or None."""


class CapabilityBase:
    """Nothing to plug in: a capability subclasses this and declares only what it has. Its
    `start` keeps the container (`self.container`); a subclass calls it first."""

    name = ""
    migrations: str | None = None
    commands: Sequence[str] = ()
    api_process_groups: Sequence[str] = ()
    _container: Container | None = None

    @property
    def container(self) -> Container:
        if self._container is None:
            raise RuntimeError(f"the {self.name} capability is not started")
        return self._container

    def withdraw(self, kind: type[T]) -> T | None:
        """Take back the state `start` provided (None when it did not), for `stop` to close."""
        return None if self._container is None else self._container.states.withdraw(kind)

    def routers(self) -> Sequence[APIRouter]:
        return ()

    def consumers(self) -> Sequence[Consumer]:
        return ()

    def sinks(self) -> Sequence[Any]:  # none: fits every sink type, a subclass narrows it
        return ()

    def services(self) -> Sequence[Service]:
        return ()

    async def start(self, container: Container) -> None:
        self._container = container

    async def stop(self) -> None:
        return None

    def cli(self) -> typer.Typer | None:
        return None


async def start_all(capabilities: Sequence[Capability[object]], container: Container) -> None:
    """Start in order; when one refuses, stop the ones already started and re-raise."""
    started: list[Capability[object]] = []
    try:
        for capability in capabilities:
            await capability.start(container)
            started.append(capability)
    except BaseException:
        await stop_all(started)
        raise


async def stop_all(capabilities: Sequence[Capability[object]]) -> None:
    """Stop in reverse order of start."""
    for capability in reversed(capabilities):
        await capability.stop()


def routers(capabilities: Sequence[Capability[object]]) -> list[APIRouter]:
    return [router for c in capabilities for router in c.routers()]


def consumers(capabilities: Sequence[Capability[object]]) -> list[Consumer]:
    return [consumer for c in capabilities for consumer in c.consumers()]


def api_process_groups(capabilities: Sequence[Capability[object]]) -> frozenset[str]:
    """The consumer groups these capabilities keep in their API process."""
    return frozenset(g for c in capabilities for g in c.api_process_groups)


def services(
    capabilities: Sequence[Capability[object]],
    bus: Bus,
    roles: frozenset[str] = frozenset({"worker", "scheduler"}),
    groups: frozenset[str] | None = None,
    exclude: frozenset[str] = frozenset(),
) -> list[Service]:
    """What `caudal up` runs in the background, or `caudal worker` / `caudal scheduler`: the
    services of these roles; with `groups`, only the consumer groups named and the services
    that declare they go with one of them (e.g. the lake flusher beside the `lake` group);
    never those of the groups in `exclude` (a `caudal up` worker child leaves the API
    process's groups to it)."""
    found: list[Service] = [ConsumerService(bus, c) for c in consumers(capabilities)]
    found += [s for c in capabilities for s in c.services()]
    return [
        s
        for s in found
        if s.role in roles
        and (groups is None or s.group in groups)
        and (s.group is None or s.group not in exclude)
    ]
