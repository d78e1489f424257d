"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from caudal import __version__, wiring
from caudal.platform.bootstrap import Container
from caudal.platform.http import docs, problems
from caudal.platform.http.middleware import RequestContextMiddleware
from caudal.platform.http.routes import router as platform_router
from caudal.platform.runtime import ServiceGroup


def create_app(container: Container, *, run_services: bool = False) -> FastAPI:
    """The API; with `run_services` also the workers and scheduler (as `caudal up` does)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await container.database.open()
        try:
            await wiring.start(container)
        except BaseException:
            # e.g. a routes.yaml refused: close what is open so the process can exit.
            await wiring.stop(container)
            await container.database.close()
            raise
        group = ServiceGroup(wiring.services(container) if run_services else [])
        app.state.services = group
        await group.start()
        try:
            yield
        finally:
            await group.stop(container.settings.http.graceful_shutdown_seconds)
            await wiring.stop(container)
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
    app.include_router(platform_router)
    for router in wiring.routers():
        app.include_router(router)
    app.add_middleware(
        RequestContextMiddleware, max_body_bytes=container.settings.http.max_body_bytes
    )
    return app
