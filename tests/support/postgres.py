"""One embedded PostgreSQL per test session, a migrated template, and a fresh clone per test."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from caudal.platform.db import migrations
from caudal.platform.db.embedded import EmbeddedPostgres, with_database

TEMPLATE = "caudal_template"


class PostgresCluster:
    def __init__(self) -> None:
        # Short path: the Unix socket lives in the data directory (108-byte limit).
        self._dir = Path(tempfile.mkdtemp(prefix="caudal-pg-"))
        self._server = EmbeddedPostgres(self._dir)
        self.admin_url = ""

    def start(self) -> None:
        self.admin_url = with_database(self._server.start(), "postgres")
        self._create(TEMPLATE, template=None)
        migrations.migrate(with_database(self.admin_url, TEMPLATE))

    def stop(self) -> None:
        self._server.stop()

    def _create(self, name: str, template: str | None) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                # WAL_LOG (PostgreSQL 15+'s default) copies the small template through the WAL:
                # ~0.2-0.4 s a clone at load 3-4, where FILE_COPY's two checkpoints took 0.6-0.7
                # s and slowed the tests that followed (tests/integration/customers: 57-67 s of
                # wall time with FILE_COPY, 29-34 s with WAL_LOG, alternating runs).
                stmt = sql.SQL("{} TEMPLATE {} STRATEGY WAL_LOG").format(
                    stmt, sql.Identifier(template)
                )
            conn.execute(stmt)

    def drop(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    @contextmanager
    def database(self, *, migrated: bool = True) -> Iterator[str]:
        """A fresh database (a clone of the migrated template, or empty); yields its owner URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._create(name, TEMPLATE if migrated else None)
        try:
            yield with_database(self.admin_url, name)
        finally:
            self.drop(name)


def migrate_without(url: str, key: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Apply every migration but `key`: a database as a release without that migration left
    it, for upgrade tests (the next `migrations.migrate(url)` applies `key` alone)."""
    every = migrations.discover
    with monkeypatch.context() as patch:
        patch.setattr(
            migrations,
            "discover",
            lambda packages=None: [m for m in every(packages) if m.key != key],
        )
        migrations.migrate(url)
