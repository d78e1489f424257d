"""Who is signed in: the session behind the cookie, or a redirect to /login (pages) / 401 (data)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request

from caudal.platform.errors import CaudalError
from caudal.platform.http.deps import container
from caudal.web.security import SESSION_COOKIE
from caudal.web.sessions import SessionStore, WebSession


def session_store(request: Request) -> SessionStore:
    c = container(request)
    return SessionStore(c.database, c.settings.web.session_ttl_seconds)


async def current_session(request: Request) -> WebSession | None:
    cached: WebSession | None = getattr(request.state, "web_session", None)
    if cached is not None:
        return cached
    session = await session_store(request).load(request.cookies.get(SESSION_COOKIE))
    request.state.web_session = session
    return session


def login_required(request: Request) -> CaudalError:
    """A 303 to /login that brings the user back here once signed in."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return CaudalError(
        code="CAU-WEB-LOGIN-REQUIRED",
        detail="sign in to see this page",
        status=303,
        title="Sign in required",
        headers={"Location": f"/login?next={quote(target, safe='')}"},
    )


def no_session() -> CaudalError:
    return CaudalError(
        code="CAU-WEB-NO-SESSION",
        detail="no dashboard session: sign in at /login (API clients send a Bearer token)",
        status=401,
        title="Unauthorized",
    )


async def page_session(request: Request) -> WebSession:
    """For HTML pages: without a session, redirect to the login page."""
    session = await current_session(request)
    if session is None:
        raise login_required(request)
    return session


async def data_session(request: Request) -> WebSession:
    """For XHR, SSE and downloads: without a session, a 401 problem (never a redirect)."""
    session = await current_session(request)
    if session is None:
        raise no_session()
    return session
