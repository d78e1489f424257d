"""A `KindFilter` as parameters of the PostgreSQL bus's `fetch_kinds` query.

The filter's alternatives go in as three parallel arrays (NULL: any), so the query text never
changes with the routes; globs become `LIKE` patterns (`*` is `%`, `?` is `_`, and the
characters `LIKE` treats specially are escaped), which match exactly what `fnmatchcase` matches
for a glob without character classes (the only globs a `KindFilter` holds).
"""

from __future__ import annotations

from caudal.platform.bus.model import KindFilter

_LIKE = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_", "*": "%", "?": "_"})


def like_pattern(glob: str) -> str:
    return glob.translate(_LIKE)


def kind_params(kinds: KindFilter) -> dict[str, list[str | None]]:
    sources: list[str | None] = []
    types: list[str | None] = []
    versions: list[str | None] = []
    for source, type_, version in kinds.alternatives:
        sources.append(None if source is None else like_pattern(source))
        types.append(None if type_ is None else like_pattern(type_))
        versions.append(version)
    return {"sources": sources, "types": types, "versions": versions}
