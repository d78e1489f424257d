"""Django-REST-like page links (seed 002): `{count, next, previous, results}`."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from caudal.platform.errors import CaudalError

INVALID_PAGE = "CAU-INVALID-PAGE"


def page_links(
    path: str, params: dict[str, Any], page: int, page_size: int, count: int
) -> tuple[str | None, str | None]:
    """Relative links to the next and previous pages (None where there is none), keeping the
    other query parameters, e.g. `/clientes?nome=maria&page=2`."""
    kept = {k: v for k, v in params.items() if v is not None and k != "page"}

    def link(number: int) -> str:
        return f"{path}?{urlencode({**kept, 'page': number})}"

    has_next = page * page_size < count
    has_previous = page > 1
    previous_page = min(page - 1, max(1, -(-count // page_size)))
    return (link(page + 1) if has_next else None, link(previous_page) if has_previous else None)


def envelope(
    path: str,
    params: dict[str, Any],
    page: int,
    page_size: int,
    count: int,
    results: list[dict[str, Any]],
) -> dict[str, Any]:
    if page > 1 and (page - 1) * page_size >= count:
        # Django REST Framework's answer for a page past the last one (the first page of an
        # empty list is an empty 200, as there)
        raise CaudalError(code=INVALID_PAGE, detail="Invalid page.", status=404, title="Not found")
    following, previous = page_links(path, params, page, page_size, count)
    return {"count": count, "next": following, "previous": previous, "results": results}
