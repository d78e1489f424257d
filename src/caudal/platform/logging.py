"""JSON-lines logging through structlog, with the request's trace key bound in a contextvar."""

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


class _Stdout:
    """Writes to whatever `sys.stdout` is at write time (test runners swap and close it)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def configure(level: str = "info", stream: Any = None) -> None:
    """Idempotent. Both structlog and stdlib loggers (uvicorn, psycopg) emit JSON lines."""
    numeric = logging.getLevelName(level.upper())
    stream = stream or _Stdout()
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _scrub,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
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
                structlog.processors.JSONRenderer(),
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


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
