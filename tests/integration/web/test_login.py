"""Sign-in, sign-out and the session cookie, against a real PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx

from caudal.platform.bootstrap import Container
from caudal.web.security import LOGIN_COOKIE, SESSION_COOKIE
from tests.integration.web.conftest import page_csrf, sign_in

SignIn = Callable[..., Awaitable[httpx.Response]]


async def test_pages_redirect_to_login_and_data_answers_401(client: httpx.AsyncClient) -> None:
    page = await client.get("/events?type=click_x")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fevents%3Ftype%3Dclick_x"
    for path in ("/", "/quarantine", "/customers", "/ledger", "/pipelines"):
        assert (await client.get(path)).status_code == 303, path
    stream = await client.get("/ui/stream/overview", headers={"Accept": "text/event-stream"})
    assert stream.status_code == 401
    assert stream.headers["content-type"] == "application/problem+json"
    assert stream.json()["code"] == "CAU-WEB-NO-SESSION"


async def test_sign_in_sets_a_strict_httponly_cookie_that_never_outlives_the_token(
    client: httpx.AsyncClient, token: Callable[..., str], container: Container
) -> None:
    before = time.time()
    short = token("monitor:read", subject="alice", ttl=120)
    response = await sign_in(client, short, next_url="/events")
    assert response.status_code == 303
    assert response.headers["location"] == "/events"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
    assert "httponly" in attributes
    assert attributes["samesite"].strip().lower() == "samesite=strict"
    assert attributes["path"].strip() == "Path=/"
    assert "secure" not in attributes  # plain http here; https requests get Secure
    max_age = int(attributes["max-age"].split("=")[1])
    assert 100 <= max_age <= 120
    async with container.database.connection() as conn:
        cur = await conn.execute(
            "SELECT subject, scopes, expires_at, token_sealed FROM web.sessions"
        )
        rows = await cur.fetchall()
    assert len(rows) == 1
    subject, scopes, expires_at, sealed = rows[0]
    assert (subject, scopes) == ("alice", ["monitor:read"])
    assert expires_at.timestamp() <= before + 121
    assert short.encode() not in bytes(sealed)  # the token is sealed, never stored in clear
    cookie_value = client.cookies[SESSION_COOKIE]
    async with container.database.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM web.sessions WHERE id = %s", (cookie_value,))
        assert (await cur.fetchone()) == (0,)  # rows are keyed by a hash, not the cookie value
    page = await client.get("/events")
    assert page.status_code == 200
    assert "alice" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-frame-options"] == "DENY"


async def test_a_refused_token_shows_why_and_creates_no_session(
    client: httpx.AsyncClient, container: Container
) -> None:
    response = await sign_in(client, "eyJhbGciOiJIUzI1NiJ9.e30.not-a-signature")
    assert response.status_code == 401
    assert "That token was refused" in response.text
    assert SESSION_COOKIE not in client.cookies
    empty = await sign_in(client, "   ")
    assert empty.status_code == 422 and "Paste a token" in empty.text
    async with container.database.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM web.sessions")
        assert (await cur.fetchone()) == (0,)


async def test_sign_in_refuses_a_forged_form(
    client: httpx.AsyncClient, token: Callable[..., str]
) -> None:
    await client.get("/login")
    no_csrf = await client.post("/login", data={"token": token(), "csrf": "guess"})
    assert no_csrf.status_code == 403
    form = await client.get("/login")
    cross_site = await client.post(
        "/login",
        data={"token": token(), "csrf": page_csrf(form.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert SESSION_COOKIE not in client.cookies


async def test_sign_in_never_redirects_off_site(
    client: httpx.AsyncClient, token: Callable[..., str]
) -> None:
    response = await sign_in(client, token(), next_url="//evil.example/steal")
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_sign_out_needs_the_csrf_token_then_ends_the_session(
    client: httpx.AsyncClient, signed_in: SignIn, container: Container
) -> None:
    await signed_in()
    page = await client.get("/")
    assert page.status_code == 200
    old_cookie = client.cookies[SESSION_COOKIE]
    forged = await client.post("/logout", data={"csrf": "nope"})
    assert forged.status_code == 403
    assert (await client.get("/")).status_code == 200  # still signed in
    out = await client.post("/logout", data={"csrf": page_csrf(page.text)})
    assert out.status_code == 303
    assert out.headers["location"] == "/login?signed_out=1"
    assert SESSION_COOKIE not in client.cookies
    async with container.database.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM web.sessions")
        assert (await cur.fetchone()) == (0,)
    # The old cookie, replayed by someone who copied it, opens nothing any more.
    client.cookies.set(SESSION_COOKIE, old_cookie)
    assert (await client.get("/")).status_code == 303


async def test_login_form_sets_its_own_short_lived_cookie(client: httpx.AsyncClient) -> None:
    form = await client.get("/login")
    assert form.status_code == 200
    assert LOGIN_COOKIE in client.cookies
    assert '<label for="token">' in form.text
    assert 'class="skip-link"' in form.text


async def test_shipped_assets_are_served_and_nothing_else(client: httpx.AsyncClient) -> None:
    js = await client.get("/static/app.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in js.text
    again = await client.get("/static/app.js", headers={"If-None-Match": js.headers["etag"]})
    assert again.status_code == 304
    assert (await client.get("/static/app.css")).headers["content-type"].startswith("text/css")
    assert (await client.get("/static/secret.key")).status_code == 404
    assert (await client.get("/static/..%2F__init__.py")).status_code == 404
