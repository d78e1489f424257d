"""Named SQL: a `.sql` file shipped in a package, each statement under a `-- name: NAME` line.

SQL longer than a line lives in these files (reviewable, highlighted, greppable); code names
the statement. A file is read once, on the first statement asked of it.
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*([a-z_]+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """Statements by name; the text before the first name (a header comment) is dropped."""
    parts = _NAME.split(text)
    named = dict(zip(parts[1::2], (body.strip() for body in parts[2::2]), strict=True))
    if len(named) != len(parts) // 2:
        raise ValueError("a query name is used twice")
    return named


class NamedQueries:
    """`q = NamedQueries("caudal.ledger", "queries.sql")`, then `q("name")` (KeyError if none)."""

    def __init__(self, package: str, *path: str) -> None:
        self.package = package
        self.path = path

    @cached_property
    def _all(self) -> dict[str, str]:
        return parse(resources.files(self.package).joinpath(*self.path).read_text("utf-8"))

    def __call__(self, name: str) -> str:
        return self._all[name]
