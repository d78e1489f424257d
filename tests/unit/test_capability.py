"""The capability runtime: start order and rollback, the service selection, typed states."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pytest

from caudal.platform import capability
from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import Record
from caudal.platform.bus.port import Bus, Consumer
from caudal.platform.capability import CapabilityBase
from caudal.platform.errors import CaudalError
from caudal.platform.runtime import Service
from caudal.platform.state import States


class Recorder(CapabilityBase):
    def __init__(self, name: str, log: list[str], refuse: bool = False) -> None:
        self.name = name
        self.log = log
        self.refuse = refuse

    async def start(self, container: Container) -> None:
        await super().start(container)
        if self.refuse:
            raise ValueError(f"{self.name} refuses")
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")


def fake_container() -> Container:
    return cast(Container, object())  # the recorders keep it, never read it


async def test_capabilities_start_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    caps = [Recorder("a", log), Recorder("b", log)]
    await capability.start_all(caps, fake_container())
    await capability.stop_all(caps)
    assert log == ["start a", "start b", "stop b", "stop a"]


async def test_a_refusal_stops_only_what_started_and_propagates() -> None:
    log: list[str] = []
    caps = [Recorder("a", log), Recorder("b", log, refuse=True), Recorder("c", log)]
    with pytest.raises(ValueError, match="b refuses"):
        await capability.start_all(caps, fake_container())
    assert log == ["start a", "stop a"]


@dataclass
class Group:
    group: str
    topics: tuple[str, ...] = ("t",)

    async def handle(self, records: Sequence[Record]) -> None:
        return None


@dataclass
class Job:
    name: str
    role: str
    group: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        return None


class Worked(CapabilityBase):
    name = "worked"

    def consumers(self) -> Sequence[Consumer]:
        return [Group("lake"), Group("ledger-posting")]

    def services(self) -> Sequence[Service]:
        return [
            Job("lake-flusher", "worker", group="lake"),
            Job("retention", "worker"),
            Job("nightly", "scheduler"),
        ]


def names(services: Sequence[Service]) -> list[str]:
    return [s.name for s in services]


def test_services_are_chosen_by_role_and_by_the_group_they_declare() -> None:
    bus = cast(Bus, object())
    caps: list[capability.Capability[Any]] = [Worked()]
    every = ["bus:lake", "bus:ledger-posting", "lake-flusher", "retention", "nightly"]
    assert names(capability.services(caps, bus)) == every
    assert names(capability.services(caps, bus, frozenset({"scheduler"}))) == ["nightly"]
    lake = capability.services(caps, bus, frozenset({"worker"}), frozenset({"lake"}))
    assert names(lake) == ["bus:lake", "lake-flusher"]
    posting = capability.services(caps, bus, frozenset({"worker"}), frozenset({"ledger-posting"}))
    assert names(posting) == ["bus:ledger-posting"]


@dataclass
class Things:
    count: int


def test_states_are_kept_and_returned_by_type() -> None:
    states = States()
    with pytest.raises(CaudalError) as refused:
        states.get(Things)
    assert refused.value.status == 503
    states.provide(Things(3))
    assert states.get(Things).count == 3
    withdrawn = states.withdraw(Things)
    assert withdrawn is not None and withdrawn.count == 3
    assert states.withdraw(Things) is None


def test_every_migrations_folder_is_declared_by_one_capability() -> None:
    """The CLI migrates what the capabilities declare; the readiness check and the test
    template migrate what ships: the two are the same set, the platform's first."""
    from caudal.platform.db import migrations
    from caudal.wiring import migration_packages

    declared = migration_packages()
    assert len(declared) == len(set(declared))
    assert migrations.shipped() == ["caudal.platform", *sorted(declared)]
    assert migrations.discover(declared)[0].domain == "platform"
    assert {m.key for m in migrations.discover(declared)} == {m.key for m in migrations.discover()}
