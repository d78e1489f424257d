"""The embedded PostgreSQL (`pgserver` wheel) used when no CAUDAL_DATABASE_URL is set.

Several caudal processes share one server per home: pgserver keeps the PIDs of the processes
holding it in `pgdata/.handle_pids.json`, and the last one to let go stops the server. A process
killed with SIGKILL never removes its PID, so the server would then outlive everyone: each start
and stop first forgets the PIDs of processes that no longer run.

pgserver gives `pg_ctl start` 10 s. On a loaded machine the postmaster it launched can come up
after that (its log says "ready" while pg_ctl is cut off), and nothing would then stop it:
`_server_for` waits for it to be ready and attaches to it, and stops it when even that fails.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DATABASE_NAME = "caudal"


class EmbeddedPostgres:
    """A PostgreSQL server living in `<home>/pgdata`; a second start on the same home reuses it."""

    def __init__(self, home: Path) -> None:
        self.pgdata = home / "pgdata"
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server; return the owner URL of the `caudal` database."""
        self.pgdata.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); it falls back fine.
            warnings.simplefilter("ignore")
            forget_dead_holders(self.pgdata)
            self._server = _server_for(self.pgdata)
        admin_url: str = self._server.get_uri()
        ensure_database(admin_url, DATABASE_NAME)
        return with_database(admin_url, DATABASE_NAME)

    def stop(self) -> None:
        if self._server is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                forget_dead_holders(self.pgdata)
                self._server.cleanup()
            self._server = None


START_ATTEMPTS = 3
READY_SECONDS = 60.0


def _server_for(pgdata: Path) -> Any:
    """pgserver's handle on the server of `pgdata`; a start cut off by pgserver's timeout is
    retried once the postmaster it launched is ready (the retry attaches to it)."""
    import pgserver  # lazily: only needed on embedded defaults
    from pgserver.postgres_server import PostgresServer

    get_server: Any = pgserver.get_server  # type: ignore[attr-defined]
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return get_server(pgdata, cleanup_mode="stop")
        except subprocess.TimeoutExpired:
            # the failed handle stays registered (and would attach its exit hook): drop it
            failed = PostgresServer._instances.pop(pgdata.resolve(), None)
            if failed is not None:
                atexit.unregister(failed._cleanup)
            if attempt == START_ATTEMPTS or not _wait_ready(pgdata, READY_SECONDS):
                stop_orphan(pgdata, failed.system_user if failed is not None else None)
                raise
    raise AssertionError("unreachable")


def _wait_ready(pgdata: Path, seconds: float) -> bool:
    from pgserver.utils import PostmasterInfo

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is not None and info.is_running() and info.status == "ready":
            return True
        time.sleep(0.2)
    return False


def stop_orphan(pgdata: Path, system_user: str | None) -> None:
    """Stop the postmaster of `pgdata` when no live process holds it (a start that failed
    after launching it)."""
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running() or forget_dead_holders(pgdata):
        return
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=system_user, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        if info.process is not None and info.process.is_running():
            info.process.kill()


def forget_dead_holders(pgdata: Path) -> list[int]:
    """Drop the PIDs of processes that no longer run from pgserver's holder list, under its
    lock; return the PIDs kept."""
    from pgserver.postgres_server import PostgresServer

    holders = pgdata.resolve() / ".handle_pids.json"
    with PostgresServer._lock:
        if not holders.exists():
            return []
        pids = [int(p) for p in json.loads(holders.read_text() or "[]")]
        alive = [p for p in pids if _running(p)]
        if alive != pids:
            holders.write_text(json.dumps(alive))
        return alive


def _running(pid: int) -> bool:
    """True while `pid` runs (a zombie, killed but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): trust the signal check
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def with_database(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


_CREATE_LOCK = 0x6361756463  # processes starting at once on a fresh home create it once


def ensure_database(admin_url: str, dbname: str, template: str | None = None) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_CREATE_LOCK,))  # freed when it closes
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists:
            return
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname))
        if template:
            stmt = sql.SQL("{} TEMPLATE {}").format(stmt, sql.Identifier(template))
        conn.execute(stmt)
