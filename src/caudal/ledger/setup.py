"""What the ledger plugs into the composition root (`caudal.wiring`)."""

from __future__ import annotations

from fastapi import APIRouter

from caudal.bus.port import Consumer
from caudal.ledger import api, context, flowapi
from caudal.ledger.consumer import PostingConsumer
from caudal.ledger.scheduler import ReconcileScheduler
from caudal.platform.bootstrap import Container
from caudal.platform.runtime import Service


def routers() -> list[APIRouter]:
    return [api.router, flowapi.router]


def consumers(container: Container) -> list[Consumer]:
    """The posting engine (role "worker"): `caudal worker --group ledger-posting`."""
    settings = container.settings.ledger
    engine = context.get(container).engine
    return [
        PostingConsumer(
            engine, settings.consumer_group, settings.topic, settings.posting_batch_size
        )
    ]


def services(container: Container) -> list[Service]:
    """The nightly reconciliation (role "scheduler")."""
    settings = container.settings.ledger
    if not settings.reconcile_enabled:
        return []
    return [ReconcileScheduler(container.database, settings.reconcile_cron)]
