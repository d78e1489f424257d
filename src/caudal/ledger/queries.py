"""Named SQL queries of the ledger, read once from `queries.sql`."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*([a-z_]+)\s*$", re.MULTILINE)


@cache
def _load() -> dict[str, str]:
    text = resources.files("caudal.ledger").joinpath("queries.sql").read_text("utf-8")
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def q(name: str) -> str:
    """The query called `name` (KeyError if there is none)."""
    return _load()[name]
