"""Named SQL queries of the pipelines, read once from the files in `sql/`."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*([a-z_]+)\s*$", re.MULTILINE)


@cache
def _load(filename: str) -> dict[str, str]:
    text = resources.files("caudal.pipelines").joinpath("sql", filename).read_text("utf-8")
    parts = _NAME.split(text)
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def duck(name: str) -> str:
    """A DuckDB query of the user-carts transform (`sql/user_carts.sql`)."""
    return _load("user_carts.sql")[name]


def pg(name: str) -> str:
    """A PostgreSQL query of the run history and warehouse (`sql/runs.sql`)."""
    return _load("runs.sql")[name]
