"""Named SQL of the events domain (schemas, idempotency, quarantine, lake buffer, realtime)."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)


@cache
def _all() -> dict[str, str]:
    text = resources.files("caudal.events").joinpath("queries.sql").read_text("utf-8")
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def q(name: str) -> str:
    return _all()[name]
