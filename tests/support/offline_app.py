"""The real app with every capability's routes, built without a database (never opened): for
tests that read its routes or its OpenAPI document, not what a request does."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic import SecretStr

from caudal import wiring
from caudal.bus.adapters import build_bus
from caudal.platform.bootstrap import bootstrap
from caudal.platform.http.app import create_app
from caudal.platform.settings import AuthSettings, Settings


def offline_app(home: Path) -> FastAPI:
    settings = Settings(
        home=home,
        env="test",
        database_url=SecretStr("postgresql://nobody@127.0.0.1:9/none"),  # never opened
        auth=AuthSettings(secret=SecretStr("offline-app-test-secret-0123456789abcdef0123")),
    )
    container = bootstrap(settings, bus=build_bus, migrate=False, configure_logging=False)
    return create_app(container, wiring.capabilities())
