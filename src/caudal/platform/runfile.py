"""`CAUDAL_HOME/run.json`: where a running `caudal up` / `caudal api` of this home listens.

Written once the port is bound, removed on exit; clients of the same home (`caudal demo`, the
docs' examples) read it to find the server instead of assuming `CAUDAL_HOST:CAUDAL_PORT`, which
is wrong as soon as `--port` was used. A file left by a killed server is ignored (its pid is gone).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import orjson

NAME = "run.json"


def path(home: Path) -> Path:
    return home / NAME


def client_host(host: str) -> str:
    """A bind address a client can connect to (0.0.0.0 and :: listen everywhere)."""
    return {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)  # noqa: S104


def write(home: Path, host: str, port: int) -> str:
    url = f"http://{client_host(host)}:{port}"
    home.mkdir(parents=True, exist_ok=True)
    target = path(home)
    partial = target.with_suffix(".tmp")
    partial.write_bytes(orjson.dumps({"url": url, "pid": os.getpid()}))
    partial.replace(target)
    return url


def remove(home: Path) -> None:
    """Remove the file if this process wrote it (another server may have replaced it)."""
    with contextlib.suppress(OSError, ValueError):
        if orjson.loads(path(home).read_bytes()).get("pid") == os.getpid():
            path(home).unlink()


def running_url(home: Path) -> str | None:
    """The URL of the live server of this home, or None."""
    try:
        found = orjson.loads(path(home).read_bytes())
        url, pid = str(found["url"]), int(found["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # left by a server that was killed
    except PermissionError:
        pass  # alive, another user's
    return url
