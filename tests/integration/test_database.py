"""Migrations and the database roles: the app role owns nothing and gets only what is granted."""

from __future__ import annotations

import threading

import psycopg
import pytest

from caudal.platform.db import migrations
from caudal.platform.db.urls import app_url
from caudal.platform.settings import Settings
from tests.support.postgres import PostgresCluster


def test_migrate_is_idempotent_and_records_every_migration(database_url: str) -> None:
    assert migrations.migrate(database_url) == []
    with psycopg.connect(database_url) as conn:
        done = migrations.applied(conn)
    assert {m.key for m in migrations.discover()} == done


def test_concurrent_migrators_apply_each_migration_once(pg_cluster: PostgresCluster) -> None:
    with pg_cluster.database(migrated=False) as url:
        results: list[int] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                results.append(len(migrations.migrate(url)))
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert sum(results) == len(migrations.discover())


def test_an_edited_applied_migration_is_refused(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE meta.schema_migrations SET checksum = 'x' WHERE domain = 'platform'")
    with pytest.raises(migrations.MigrationError, match="changed after it was applied"):
        migrations.migrate(database_url)


def test_app_role_owns_no_table_and_cannot_create_any(
    settings: Settings, database_url: str
) -> None:
    with psycopg.connect(database_url) as conn:
        owned = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables WHERE tableowner = %s",
            (settings.database_app_role,),
        ).fetchall()
    assert owned == []
    with psycopg.connect(app_url(settings, database_url)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("caudal_app",)
        assert conn.execute("SELECT count(*) FROM meta.schema_migrations").fetchone()[0] >= 1  # type: ignore[index]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.sneaky (id int)")
        conn.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM meta.schema_migrations")
