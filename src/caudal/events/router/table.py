"""The routes in force: read from a file at startup, re-read when the file changes."""

from __future__ import annotations

import time
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import structlog

from caudal.events.router.rules import RoutesError, RouteTable, parse_routes

_log = structlog.get_logger("caudal.router")

CHECK_EVERY_S = 1.0


def default_routes_text() -> str:
    return resources.files("caudal.events.router").joinpath("routes.yaml").read_text("utf-8")


class Routes:
    """Holds the current `RouteTable`. `current()` notices an edited file (checked at most once
    a second); a broken edit is logged and the previous routes stay in force. At startup a
    broken file, or one naming an unregistered sink, raises `RoutesError`."""

    def __init__(self, path: Path | None, known_sinks: Iterable[str]) -> None:
        self.path = path
        self.known_sinks = frozenset(known_sinks)
        self._stamp = self._file_stamp()
        self._checked = time.monotonic()
        self.table = self._load()

    def _file_stamp(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def _load(self) -> RouteTable:
        if self.path is None:
            table = parse_routes(default_routes_text(), "routes.yaml (shipped default)")
        else:
            try:
                text = self.path.read_text("utf-8")
            except OSError as exc:
                raise RoutesError(str(self.path), 1, f"cannot read the file: {exc}") from exc
            table = parse_routes(text, str(self.path))
        table.check_sinks(self.known_sinks)
        return table

    def current(self) -> RouteTable:
        now = time.monotonic()
        if self.path is None or now - self._checked < CHECK_EVERY_S:
            return self.table
        self._checked = now
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return self.table
        self._stamp = stamp
        try:
            self.table = self._load()
        except RoutesError as exc:
            _log.error("routes_reload_refused", error=str(exc), kept_rules=len(self.table.rules))
        else:
            _log.info("routes_reloaded", path=str(self.path), rules=len(self.table.rules))
        return self.table
