"""Logging through structlog, with the request's trace key bound in a contextvar.

Logs go to stderr, so they never mix with what a command prints on stdout (tables, tokens, JSON
for a pipe) nor break a progress bar's line. The format follows `CAUDAL_LOG_FORMAT`: `json`
(one object per line, for collectors), `console` (aligned, coloured, for a person), or `auto`
(the default): `console` when stderr is a terminal, `json` when it is piped or redirected.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

# Keys whose values must never reach a log line, whatever code logs them.
_SECRET_KEYS = frozenset(
    {"authorization", "token", "password", "secret", "cpf", "nome", "cookie", "api_key"}
)


def _scrub(_: Any, __: str, event_dict: structlog.typing.EventDict) -> structlog.typing.EventDict:
    for key in list(event_dict):
        if key.lower() in _SECRET_KEYS:
            event_dict[key] = "[redacted]"
    return event_dict


# The role of this process among those of one `caudal up` ("http", "worker-1"), on every line
# it logs; None (the key left out) when the process is all there is.
_process: str | None = None


def name_process(name: str | None) -> None:
    """Name this process in every line it logs from now on (`"process": name`)."""
    global _process  # one value per process, read on every line
    _process = name


def _add_process(
    _: Any, __: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    if _process is not None:
        event_dict.setdefault("process", _process)
    return event_dict


class _Stderr:
    """Writes to whatever `sys.stderr` is at write time (test runners swap and close it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def renderer(log_format: str, stream: Any) -> structlog.typing.Processor:
    """JSON lines, or the human console form (`auto`: console only on a terminal)."""
    human = log_format == "console" or (
        log_format == "auto" and bool(getattr(stream, "isatty", lambda: False)())
    )
    if human:
        return structlog.dev.ConsoleRenderer(colors=True)
    return structlog.processors.JSONRenderer()


def configure(level: str = "info", stream: Any = None, log_format: str = "auto") -> None:
    """Idempotent. Both structlog and stdlib loggers (uvicorn, psycopg) use one format."""
    numeric = logging.getLevelName(level.upper())
    stream = stream or _Stderr()
    render = renderer(log_format, stream)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _add_process,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _scrub,
    ]
    structlog.configure(
        processors=[
            *shared,
            *([structlog.processors.format_exc_info] if _is_json(render) else []),
            render,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                render,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in ("uvicorn.access",):  # we write our own request line
        logging.getLogger(noisy).handlers[:] = []
        logging.getLogger(noisy).propagate = False
    logging.getLogger("pgserver").setLevel(max(numeric, logging.WARNING))
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def _is_json(render: structlog.typing.Processor) -> bool:
    # the console renderer prints exceptions itself (and warns if they were formatted before)
    return isinstance(render, structlog.processors.JSONRenderer)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
