"""The process's view of the schema registry: shipped files, the extra directory, and the
schemas registered through the API (table `events.schemas`), refreshed from the database at
most every few seconds so every API process sees a new schema quickly."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import structlog
from psycopg.types.json import Jsonb

from caudal.events import registry_files
from caudal.events.queries import q
from caudal.events.registry import RegisteredSchema, Registry, SchemaDefinitionError, build
from caudal.platform.db.pool import Database
from caudal.platform.errors import CaudalError, conflict

_log = structlog.get_logger("caudal.events.registry")


class SchemaCatalog:
    def __init__(
        self, database: Database, schemas_dir: Path | None = None, refresh_seconds: float = 2.0
    ) -> None:
        self.database = database
        self.refresh_seconds = refresh_seconds
        self._files = registry_files.shipped()
        if schemas_dir is not None:
            self._files += registry_files.from_directory(schemas_dir)
        self.registry = Registry(self._files)
        self._stamp: tuple[Any, ...] | None = None
        self._checked = 0.0
        self._lock = asyncio.Lock()

    async def current(self) -> Registry:
        """The registry, reloaded if another process registered a schema (checked every few s)."""
        if time.monotonic() - self._checked >= self.refresh_seconds and not self._lock.locked():
            async with self._lock:
                await self.refresh()
        return self.registry

    async def refresh(self, force: bool = False) -> None:
        self._checked = time.monotonic()
        async with self.database.connection() as conn:
            cur = await conn.execute(q("schemas_stamp"))
            stamp = tuple(await cur.fetchone() or ())
            if stamp == self._stamp and not force:
                return
            cur = await conn.execute(q("schemas_all"))
            rows = await cur.fetchall()
        fresh = Registry(self._files)
        for type_, version, source, description, schema in rows:
            try:
                # registered before a personally named property needed a mark: still loads
                fresh.add(build(type_, version, source, schema, description, "api", names=False))
            except SchemaDefinitionError:
                _log.warning("stored_schema_unusable", type=type_, version=version)
        self.registry = fresh
        self._stamp = stamp

    async def register(self, raw: Any, subject: str) -> tuple[RegisteredSchema, bool]:
        """Add a schema version. Returns (entry, created); an identical re-post is not an error."""
        if not isinstance(raw, dict):
            raise CaudalError(
                code="CAU-EVT-SCHEMA-BODY",
                detail="the body must be an object with type, version, source, schema",
                status=422,
                title="Invalid schema",
                field="body",
            )
        try:
            entry = build(
                raw.get("type"),  # type: ignore[arg-type]
                raw.get("version"),  # type: ignore[arg-type]
                raw.get("source", "backend"),
                raw.get("schema"),
                str(raw.get("description") or "")[:500],
                "api",
            )
        except SchemaDefinitionError as exc:
            raise CaudalError(
                code=exc.code,
                detail=exc.message,
                status=422,
                title="Invalid schema",
                field=exc.field,
            ) from exc
        await self.refresh(force=True)
        existing = self.registry.get(entry.type, entry.version)
        if existing is not None:
            if existing.schema == entry.schema and existing.source == entry.source:
                return existing, False
            raise conflict(
                f"{entry.type} version {entry.version} is already registered with another "
                "schema; register a new version instead",
                "CAU-EVT-SCHEMA-EXISTS",
            )
        problems = self.registry.check_addition(entry)
        if problems:
            raise CaudalError(
                code="CAU-EVT-SCHEMA-INCOMPATIBLE",
                detail=f"{entry.type} {entry.version} would break existing producers: "
                + "; ".join(problems),
                status=409,
                title="Incompatible schema",
                field="schema",
                extra={"breaking_changes": problems},
            )
        async with self.database.connection() as conn, conn.transaction():
            cur = await conn.execute(
                q("schema_insert"),
                {
                    "type": entry.type,
                    "version": entry.version,
                    "source": entry.source,
                    "description": entry.description,
                    "schema": Jsonb(entry.schema),
                    "created_by": subject,
                },
            )
            inserted = await cur.fetchone()
        if inserted is None:  # registered concurrently by another process
            await self.refresh(force=True)
            return await self.register(raw, subject)
        await self.refresh(force=True)
        _log.info("schema_registered", type=entry.type, version=entry.version)
        return entry, True
