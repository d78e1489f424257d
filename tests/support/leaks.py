"""No test may leave an embedded PostgreSQL running: find a home's postmaster, and fail (after
stopping it) when one outlives the processes that used it."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def postmasters(home: Path) -> list[int]:
    """PIDs of the postgres server processes running on `home`'s embedded data directory."""
    pgdata = str((home / "pgdata").resolve()).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"postgres") and pgdata in args:
            found.append(int(proc.name))
    return found


def no_postmaster_left(home: Path, wait_s: float = 10.0) -> None:
    """Wait for `home`'s server to stop (its last holder stops it on exit); if it does not,
    stop it (SIGQUIT: immediate shutdown, its children with it) and fail."""
    deadline = time.monotonic() + wait_s
    left = postmasters(home)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = postmasters(home)
    if not left:
        return
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)
    raise AssertionError(f"postmaster(s) {left} of {home} left running")
