"""Named SQL: a `.sql` file shipped in a package, each statement under a `-- name: NAME` line.

SQL longer than a line lives in these files (reviewable, highlighted, greppable); code names
the statement. A file is read once, on the first statement asked of it.

A part that two statements share is written once, as a named fragment, and spliced into each
by a line `-- include: NAME` (alone on its line, indented or not): the line is replaced by the
fragment's text less its leading comment lines (what the fragment is for, said once), at parse
time, so the statements that code runs are plain SQL. A fragment is named like a statement (and
can be asked for, though it is rarely a whole statement itself); one can include another,
defined before or after it, but never itself, directly or not.
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources

_NAME = re.compile(r"^--\s*name:\s*([a-z_]+)\s*$", re.MULTILINE)
_LEADING_COMMENTS = re.compile(r"\A(?:[ \t]*--[^\n]*\n)+")
_INCLUDE = re.compile(r"^[ \t]*--\s*include:\s*([a-z_]+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    """Statements by name, their includes spliced; the text before the first name (a header
    comment) is dropped. ValueError for a name used twice, an unknown or circular include."""
    parts = _NAME.split(text)
    named = dict(zip(parts[1::2], (body.strip() for body in parts[2::2]), strict=True))
    if len(named) != len(parts) // 2:
        raise ValueError("a query name is used twice")
    return {name: _spliced(named, name, ()) for name in named}


def _spliced(named: dict[str, str], name: str, within: tuple[str, ...]) -> str:
    if name in within:
        raise ValueError(f"a query includes itself: {' -> '.join((*within, name))}")
    if name not in named:
        raise ValueError(f"an include names no query: {name!r} (in {within[-1]!r})")

    def fragment(found: re.Match[str]) -> str:
        return _spliced(named, found.group(1), (*within, name))

    body = named[name]
    if within:
        body = _LEADING_COMMENTS.sub("", body)
    return _INCLUDE.sub(fragment, body)


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
