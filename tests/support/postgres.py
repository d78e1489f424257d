"""One embedded PostgreSQL per test session, a migrated template, and a fresh clone per test.

A clone (`CREATE DATABASE ... TEMPLATE ... STRATEGY FILE_COPY`: two checkpoints and a copy) takes
0.3-1 s, as long as many integration tests themselves; so one background thread makes the next
test's clone while the current test runs, and drops the finished test's database. Each test
still gets a database no other test has touched.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
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
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-clones")
        self._next_clone: Future[str] | None = None
        self._drops: list[Future[None]] = []

    def start(self) -> None:
        self.admin_url = with_database(self._server.start(), "postgres")
        self._create(TEMPLATE, template=None)
        migrations.migrate(with_database(self.admin_url, TEMPLATE))

    def stop(self) -> None:
        """Stop the server once the background work is done; a failed drop fails the session."""
        try:
            if self._next_clone is not None:  # made for a test that did not come
                self._drops.append(self._background.submit(self.drop, self._next_clone.result()))
            self._background.shutdown(wait=True)
            for dropped in self._drops:
                dropped.result()
        finally:
            self._server.stop()

    def _create(self, name: str, template: str | None) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt = sql.SQL("{} TEMPLATE {} STRATEGY FILE_COPY").format(
                    stmt, sql.Identifier(template)
                )
            conn.execute(stmt)

    def drop(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def _clone(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._create(name, TEMPLATE)
        return name

    def _take_clone(self) -> str:
        """The clone made in the background (or one made now), and the next one started."""
        made, self._next_clone = self._next_clone, None
        name = made.result() if made is not None else self._clone()
        self._next_clone = self._background.submit(self._clone)
        return name

    @contextmanager
    def database(self, *, migrated: bool = True) -> Iterator[str]:
        """A fresh database (a clone of the migrated template, or empty); yields its owner URL."""
        if migrated:
            name = self._take_clone()
        else:
            name = f"t_{uuid.uuid4().hex[:12]}"
            self._create(name, None)
        try:
            yield with_database(self.admin_url, name)
        finally:
            for dropped in [d for d in self._drops if d.done()]:
                dropped.result()  # an earlier drop that failed fails here, not silently
                self._drops.remove(dropped)
            self._drops.append(self._background.submit(self.drop, name))
