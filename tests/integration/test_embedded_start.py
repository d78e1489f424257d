"""The embedded PostgreSQL when pgserver's 10 s `pg_ctl start` is cut off while the postmaster it
launched still comes up (a loaded machine): caudal attaches to it, or stops it; never leaves it
running without an owner."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest

from caudal.platform.db import embedded
from caudal.platform.db.embedded import EmbeddedPostgres

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs, when XDG_RUNTIME_DIR is unset (CI)
    from pgserver import postgres_server
    from pgserver.utils import PostmasterInfo


def _cut_off_starts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """`pg_ctl start` runs, then reports pgserver's timeout, as under load."""
    real = postgres_server.pg_ctl
    starts: list[int] = []

    def pg_ctl(args: list[str], **kwargs: Any) -> str:
        out: str = real(args, **kwargs)
        if args[-1] == "start":
            starts.append(1)
            raise subprocess.TimeoutExpired(["pg_ctl", *args], kwargs.get("timeout", 10))
        return out

    monkeypatch.setattr(postgres_server, "pg_ctl", pg_ctl)
    return starts


def _postmaster(pgdata: Path) -> PostmasterInfo | None:
    info = PostmasterInfo.read_from_pgdata(pgdata)
    return info if info is not None and info.process and not _gone(info.process) else None


def _gone(process: psutil.Process) -> bool:
    """Exited (a zombie not yet reaped by the test process has exited too)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_start_cut_off_by_the_timeout_attaches_to_the_server_and_stops_it_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    starts = _cut_off_starts(monkeypatch)
    server = EmbeddedPostgres(tmp_path)
    try:
        url = server.start()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("caudal",)
        assert starts == [1]  # launched once, attached on the retry
        running = _postmaster(server.pgdata)
        assert running is not None
    finally:
        server.stop()
    assert running.process is not None and _gone(running.process)
    assert _postmaster(server.pgdata) is None


def test_a_server_not_ready_in_time_is_stopped_and_the_timeout_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cut_off_starts(monkeypatch)
    monkeypatch.setattr(embedded, "READY_SECONDS", 0.0)  # it never looks ready in time
    server = EmbeddedPostgres(tmp_path)
    with pytest.raises(subprocess.TimeoutExpired):
        server.start()
    assert _postmaster(server.pgdata) is None
