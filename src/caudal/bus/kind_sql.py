"""A `KindFilter` as parameters of the PostgreSQL bus's `fetch_kinds` query.

The filter's alternatives go in as three parallel arrays (NULL: any), so the query text never
changes with the routes; globs become `LIKE` patterns (`*` is `%`, `?` is `_`, and the
characters `LIKE` treats specially are escaped), which match exactly what `fnmatchcase` matches
for a glob without character classes (the only globs a `KindFilter` holds).

A filter whose every alternative names a type and nothing else (no source, no version: most
routes) is matched by type alone (`by`): `= ANY` of the names when no glob has a wildcard
(`LIKE` without one is equality), else `LIKE ANY` of the patterns; any other filter goes by
the alternatives (`by` 'kind'). Each takes exactly the rows the alternatives take.
"""

from __future__ import annotations

from typing import Literal

from caudal.platform.bus.model import KindFilter

_LIKE = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_", "*": "%", "?": "_"})

By = Literal["type", "type_like", "kind"]


def like_pattern(glob: str) -> str:
    return glob.translate(_LIKE)


def matched_by(kinds: KindFilter) -> By:
    """How `fetch_kinds` matches this filter (the module's docstring says why each)."""
    types = [t for s, t, v in kinds.alternatives if s is None and v is None and t is not None]
    if not types or len(types) != len(kinds.alternatives):
        return "kind"
    return "type_like" if any("*" in t or "?" in t for t in types) else "type"


def kind_params(kinds: KindFilter) -> dict[str, str | list[str | None]]:
    by = matched_by(kinds)
    sources: list[str | None] = []
    types: list[str | None] = []
    versions: list[str | None] = []
    for source, type_, version in kinds.alternatives:
        sources.append(None if source is None else like_pattern(source))
        types.append(type_ if type_ is None or by == "type" else like_pattern(type_))
        versions.append(version)
    return {"by": by, "sources": sources, "types": types, "versions": versions}
