"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI

from caudal import __version__
from caudal.platform import capability
from caudal.platform.bootstrap import Container
from caudal.platform.capability import Capability
from caudal.platform.http import docs, openapi, problems
from caudal.platform.http.middleware import RequestContextMiddleware
from caudal.platform.http.routes import router as platform_router
from caudal.platform.runtime import ServiceGroup


def create_app(
    container: Container,
    capabilities: Sequence[Capability[object]],
    *,
    run_services: bool = False,
) -> FastAPI:
    """The API of these capabilities; with `run_services` also their workers and schedulers
    (as `caudal up` does)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await container.database.open()
        try:
            # a refusal (e.g. a bad routes.yaml) stops what started and propagates
            await capability.start_all(capabilities, container)
        except BaseException:
            await container.database.close()  # so the process can exit
            raise
        services = capability.services(capabilities, container.bus) if run_services else []
        group = ServiceGroup(services)
        app.state.services = group
        await group.start()
        try:
            yield
        finally:
            await group.stop(container.settings.http.graceful_shutdown_seconds)
            await capability.stop_all(capabilities)
            await container.database.close()

    app = FastAPI(
        title="caudal",
        version=__version__,
        description="Event-driven data platform: events, customers, ledger, pipelines, monitoring.",
        lifespan=lifespan,
        docs_url=None,  # served with local assets by http.docs (works offline)
        redoc_url=None,
    )
    app.state.container = container
    problems.install(app)
    docs.install(app)
    openapi.install(app)
    app.include_router(platform_router)
    for router in capability.routers(capabilities):
        app.include_router(router)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=container.settings.http.max_body_bytes,
        database_deadline_seconds=container.settings.database_request_deadline_seconds,
    )
    return app
