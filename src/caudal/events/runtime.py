"""The events domain's long-lived objects in a process (`container.extensions["events"]`)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter

from caudal.bus.port import Bus
from caudal.events.catalog import SchemaCatalog
from caudal.events.ingest import IngestService
from caudal.events.intake import Limits
from caudal.events.lake_files import LakeFiles, default_url
from caudal.events.retention import EventsRetention
from caudal.events.sinks.lake import LakeSink
from caudal.events.sinks.realtime import RealtimeSink
from caudal.platform.bootstrap import Container
from caudal.platform.db.pool import Database
from caudal.platform.runtime import Service

KEY = "events"


@dataclass
class EventsRuntime:
    catalog: SchemaCatalog
    ingest: IngestService
    limits: Limits
    bus: Bus


def build(container: Container) -> EventsRuntime:
    settings = container.settings.events
    bus = container.bus
    hot_path = Database(
        container.app_url,
        min_size=1,
        max_size=2,
        statement_timeout_ms=container.settings.database_statement_timeout_ms,
    )
    return EventsRuntime(
        catalog=SchemaCatalog(container.database, settings.schemas_dir),
        ingest=IngestService(container.database, bus, hot_path),
        limits=Limits(max_items=settings.max_items, max_depth=settings.max_depth),
        bus=bus,
    )


def get(container: Container) -> EventsRuntime:
    runtime = container.extensions.get(KEY)
    if runtime is None:
        runtime = container.extensions[KEY] = build(container)
    assert isinstance(runtime, EventsRuntime)
    return runtime


async def start(container: Container) -> None:
    """Per process: load the schema files (the hot path's pool opens on the first ingestion)."""
    get(container)


async def stop(container: Container) -> None:
    events = container.extensions.get(KEY)
    if not isinstance(events, EventsRuntime):
        return
    if events.ingest.group.opened and events.ingest.hot_path is not container.database:
        await events.ingest.hot_path.close()


def lake_files(container: Container) -> LakeFiles:
    url = container.settings.lake.url or default_url(container.settings.home)
    return LakeFiles(url)


def sinks(container: Container) -> list[LakeSink | RealtimeSink]:
    """The sinks this domain provides, by the name routes.yaml uses: `lake`, `realtime`."""
    settings = container.settings
    lake = LakeSink(
        container.database,
        lake_files(container),
        settings.lake,
        settings.bus.partitions,
        getattr(container.bus, "notifier", None),
    )
    return [lake, RealtimeSink(container.database)]


def services(container: Container) -> list[Service]:
    """Background work of this domain: retention (role "worker")."""
    return [EventsRetention(container.database, container.settings)]


def routers() -> list[APIRouter]:
    from caudal.events import api, monitor_api, quarantine_api, registry_api

    return [api.router, registry_api.router, quarantine_api.router, monitor_api.router]
