from __future__ import annotations

import json
import re
from collections.abc import Callable

import httpx
import pytest

from caudal.web.security import SESSION_COOKIE

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def sign_in(client: httpx.AsyncClient, token: str, next_url: str = "/") -> httpx.Response:
    form = await client.get("/login", params={"next": next_url})
    assert form.status_code == 200
    match = CSRF.search(form.text)
    assert match
    return await client.post(
        "/login",
        data={"csrf": match.group(1), "token": token, "next": next_url},
        headers={"Origin": "http://caudal.test"},
    )


def page_csrf(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def snapshot_of(html: str) -> dict[str, object]:
    """The overview's embedded snapshot (what the live stream pushes too)."""
    match = re.search(r'id="overview-data">(.*?)</script>', html, re.S)
    assert match, "no snapshot on the page"
    found: dict[str, object] = json.loads(match.group(1))
    return found


@pytest.fixture
def signed_in(client: httpx.AsyncClient, token: Callable[..., str]) -> Callable[..., object]:
    async def go(*granted: str, subject: str = "tester") -> httpx.Response:
        response = await sign_in(client, token(*granted, subject=subject))
        assert response.status_code == 303, response.text
        assert SESSION_COOKIE in client.cookies
        return response

    return go
