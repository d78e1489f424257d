"""Hostile input: each module holds one family of the security review's findings (issue 13).

Every case asserts the user-visible answer: the status, the stable `CAU-*` code and the field.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.ledger.conftest import make_impact  # noqa: F401  (a fixture)

PROBLEM = "application/problem+json"


def assert_problem(
    response: httpx.Response, status: int, code: str, field: str | None
) -> dict[str, Any]:
    """The response is problem+json with this status, code and field (the part at fault)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert (body["code"], body.get("field")) == (code, field), body
    return body
