"""A CSRF value that is not ASCII, on `POST /login` and on a dashboard form: 403 (the sign-in
or action is refused), never the 500 that `hmac.compare_digest` raised on such a str."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.integration.web.conftest import sign_in

ORIGIN = {"Origin": "http://caudal.test"}


async def test_login_with_a_non_ascii_csrf(client: httpx.AsyncClient) -> None:
    form = await client.get("/login")
    assert form.status_code == 200
    response = await client.post(
        "/login", data={"csrf": "çsrf-é", "token": "x", "next": "/"}, headers=ORIGIN
    )
    assert response.status_code == 403
    assert "expired or came from another site" in response.text


async def test_dashboard_form_with_a_non_ascii_csrf(
    client: httpx.AsyncClient, token: Callable[..., str]
) -> None:
    signed = await sign_in(client, token())
    assert signed.status_code == 303, signed.text
    for path in ("/quarantine/replay", "/customers", "/pipelines/user-carts/run", "/logout"):
        response = await client.post(path, data={"csrf": "ção"}, headers=ORIGIN)
        assert response.status_code == 403, (path, response.status_code, response.text[:300])
