"""Versioned SQL migrations, one folder per capability, the platform's first.

Each capability keeps `src/caudal/<domain>/migrations/NNNN_name.sql` and declares the package
(`Capability.migrations`); `wiring.migration_packages()` lists them for the CLI. A capability's
migrations reference only its own schemas and the platform's, so their order among
capabilities does not matter. Grants in those files go to
the NOLOGIN role `caudal_runtime`; the application's login role is made a member of it, so the
role that serves requests owns no table and has exactly what the migrations grant.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

RUNTIME_ROLE = "caudal_runtime"

PLATFORM = "caudal.platform"  # always first: meta.schema_migrations, shared roles

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x6361756461  # "cauda": serialises concurrent migrators on one database


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    domain: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def key(self) -> tuple[str, int]:
        return (self.domain, self.version)


def shipped() -> list[str]:
    """Every caudal package with a `migrations` folder, the platform's first, then by name: what
    the capabilities declare (a unit test keeps the two equal), for the callers that know no
    capability (the readiness check, `caudal doctor`, the test template, bench/)."""
    root = resources.files("caudal")
    found = sorted(
        f"caudal.{entry.name}"
        for entry in root.iterdir()
        if entry.is_dir() and entry.joinpath("migrations").is_dir()
    )
    return _platform_first(found)


def _platform_first(packages: Sequence[str]) -> list[str]:
    return [PLATFORM, *(p for p in packages if p != PLATFORM)]


def discover(packages: Sequence[str] | None = None) -> list[Migration]:
    """The migrations of these packages (default: all `shipped()`), the platform's first."""
    found: list[Migration] = []
    for package in shipped() if packages is None else _platform_first(packages):
        domain = package.removeprefix("caudal.")
        folder = resources.files(package).joinpath("migrations")
        if not folder.is_dir():
            continue
        entries = sorted(
            ((m, f) for f in folder.iterdir() if (m := _FILE.match(f.name)) is not None),
            key=lambda pair: pair[1].name,  # re.Match objects do not order
        )
        for match, entry in entries:
            found.append(
                Migration(domain, int(match.group(1)), match.group(2), entry.read_text("utf-8"))
            )
    return found


_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.schema_migrations (
    domain      text        NOT NULL,
    version     integer     NOT NULL,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (domain, version)
);
"""


def applied(conn: psycopg.Connection[tuple[object, ...]]) -> set[tuple[str, int]]:
    rows = conn.execute("SELECT domain, version FROM meta.schema_migrations").fetchall()
    return {(str(d), int(str(v))) for d, v in rows}


def pending_keys(
    applied_keys: set[tuple[str, int]], packages: Sequence[str] | None = None
) -> list[tuple[str, int]]:
    return [m.key for m in discover(packages) if m.key not in applied_keys]


def _ensure_roles(
    conn: psycopg.Connection[tuple[object, ...]], app_role: str, app_password: str | None
) -> None:
    for role, login in ((RUNTIME_ROLE, False), (app_role, True)):
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            try:
                with conn.transaction():
                    conn.execute(
                        sql.SQL("CREATE ROLE {} {}").format(
                            sql.Identifier(role), sql.SQL("LOGIN" if login else "NOLOGIN")
                        )
                    )
            except psycopg.errors.DuplicateObject:
                pass  # created concurrently by another migrator on this cluster
    with conn.transaction():
        conn.execute(
            sql.SQL("GRANT {} TO {}").format(sql.Identifier(RUNTIME_ROLE), sql.Identifier(app_role))
        )
        if app_password is not None:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(app_role), sql.Literal(app_password)
                )
            )
        dbname = conn.info.dbname
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(dbname), sql.Identifier(RUNTIME_ROLE)
            )
        )
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA meta TO {}").format(sql.Identifier(RUNTIME_ROLE))
        )
        conn.execute(
            sql.SQL("GRANT SELECT ON meta.schema_migrations TO {}").format(
                sql.Identifier(RUNTIME_ROLE)
            )
        )


def migrate(
    owner_url: str,
    *,
    app_role: str = "caudal_app",
    app_password: str | None = None,
    on_apply: Callable[[Migration], None] | None = None,
    packages: Sequence[str] | None = None,
) -> list[Migration]:
    """Apply every pending migration, each in its own transaction. Safe to run concurrently."""
    done: list[Migration] = []
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(_BOOTSTRAP)
            _ensure_roles(conn, app_role, app_password)
            rows = conn.execute(
                "SELECT domain, version, checksum FROM meta.schema_migrations"
            ).fetchall()
            recorded = {(d, v): c for d, v, c in rows}
            for migration in discover(packages):
                checksum = recorded.get(migration.key)
                if checksum is not None:
                    if checksum != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.domain}/{migration.version:04d}_"
                            f"{migration.name} changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                if on_apply is not None:
                    on_apply(migration)
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO meta.schema_migrations (domain, version, name, checksum)"
                        " VALUES (%s, %s, %s, %s)",
                        (migration.domain, migration.version, migration.name, migration.checksum),
                    )
                done.append(migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return done
