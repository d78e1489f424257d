"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from caudal import __version__
from caudal.platform import capability
from caudal.platform.bootstrap import Container
from caudal.platform.capability import Capability
from caudal.platform.http import docs, lean, matching, openapi, problems
from caudal.platform.http.direct import App
from caudal.platform.http.middleware import RequestContextMiddleware
from caudal.platform.http.routes import router as platform_router
from caudal.platform.runtime import Companion, ServiceGroup


def create_app(
    container: Container,
    capabilities: Sequence[Capability[object]],
    *,
    run_services: bool = False,
    groups: frozenset[str] | None = None,
    companions: Sequence[Companion] = (),
) -> FastAPI:
    """The API of these capabilities; with `run_services` also their workers and schedulers
    (as `caudal up` does), only the consumer groups in `groups` when given. `companions` run
    beside them (`caudal up`'s worker processes): the app starts serving once each of them
    is running."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await container.database.open()
        try:
            # a refusal (e.g. a bad routes.yaml) stops what started and propagates
            await capability.start_all(capabilities, container)
        except BaseException:
            await container.database.close()  # so the process can exit
            raise
        services = (
            capability.services(capabilities, container.bus, groups=groups) if run_services else []
        )
        group = ServiceGroup([*services, *companions])
        app.state.services = group
        await group.start()
        try:
            for companion in companions:
                await companion.wait_running()
            yield
        finally:
            await group.stop(container.settings.http.graceful_shutdown_seconds)
            await capability.stop_all(capabilities)
            await container.database.close()

    app = App(
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
    for router in [platform_router, *capability.routers(capabilities)]:
        include(app, router)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=container.settings.http.max_body_bytes,
        database_deadline_seconds=container.settings.database_request_deadline_seconds,
    )
    return app


_PLAIN_LIFESPAN = type(APIRouter().lifespan_context)


def include(app: FastAPI, router: APIRouter) -> None:
    """Add `router`'s routes to `app` as a flat list where nothing is lost by it, else include
    it as FastAPI does.

    FastAPI (>= 0.160) keeps an included router as one entry and matches a request against it
    twice (to pick the entry, then inside it), with scope bookkeeping per candidate: ~0.8 µs
    per route passed, ~70 µs of the ~400 µs of CPU a `/clientes/{cpf}/consultar` request cost
    in process (bench/profiles/README.md). A router whose entries are all plain API routes,
    without startup hooks or a lifespan, included without a prefix or dependencies (as here),
    adds nothing at inclusion that its routes do not already carry (its own prefix, tags and
    dependencies are applied when a route is declared): its routes are appended as they are,
    which is what `include_router` did before FastAPI 0.160. One difference: FastAPI's
    `app.dependency_overrides` does not reach a flat route (its provider is its own router);
    nothing here overrides dependencies (tests build real containers instead)."""
    flat = (
        all(isinstance(route, APIRoute) for route in router.routes)
        and not router.on_startup
        and not router.on_shutdown
        and type(router.lifespan_context) is _PLAIN_LIFESPAN
    )
    if not flat:
        app.include_router(router)
        return
    for route in router.routes:
        assert isinstance(route, APIRoute)
        matching.narrow(route)
        served = lean.lean_app(route)
        if served is not None:
            route.app = served
    app.router.routes.extend(router.routes)
