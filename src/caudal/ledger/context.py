"""The ledger's long-lived objects of one process (provided by `ledger.capability`)."""

from __future__ import annotations

from dataclasses import dataclass

from caudal.ledger.cache import MicroCache
from caudal.ledger.intake import Intake
from caudal.ledger.reads import Reads
from caudal.ledger.validation import Rules
from caudal.platform.bootstrap import Container


@dataclass
class Ledger:
    container: Container
    intake: Intake
    reads: Reads
    report_cache: MicroCache

    def rules(self) -> Rules:
        return Rules(
            today=self.container.clock.now().date(),
            backdate_days=self.container.settings.ledger.backdate_days,
        )


def build(container: Container) -> Ledger:
    settings = container.settings.ledger
    return Ledger(
        container=container,
        intake=Intake(container.database, container.bus, settings.topic),
        reads=Reads(container.database),
        report_cache=MicroCache(settings.consolidated_cache_seconds),
    )


def get(container: Container) -> Ledger:
    return container.states.get(Ledger)
