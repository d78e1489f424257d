"""Sign in with a token (the one `caudal up` prints, or from `caudal token`); sign out."""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from caudal.platform.auth import Principal
from caudal.platform.errors import CaudalError
from caudal.platform.http.deps import container
from caudal.web.deps import current_session, session_store
from caudal.web.forms import checked_form, read_form
from caudal.web.render import render
from caudal.web.security import (
    LOGIN_COOKIE,
    PAGE_HEADERS,
    SESSION_COOKIE,
    cookie_secure,
    safe_next,
    same_origin,
)
from caudal.web.sessions import WebSession

router = APIRouter(include_in_schema=False)
_log = structlog.get_logger("caudal.web")

LOGIN_FORM_SECONDS = 3600


def _login_page(
    request: Request, next_url: str, error: str | None = None, status: int = 200
) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = render(
        "login.html",
        session=None,
        status=status,
        csrf=nonce,
        next_url=safe_next(next_url),
        error=error,
        signed_out=request.query_params.get("signed_out") == "1",
    )
    response.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_FORM_SECONDS,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request, container(request).settings.web.cookie_secure),
    )
    return response


@router.get("/login", summary="The sign-in form.")
async def login_form(
    request: Request, next_url: Annotated[str, Query(alias="next")] = "/"
) -> Response:
    if await current_session(request) is not None:
        return RedirectResponse(safe_next(next_url), status_code=303, headers=PAGE_HEADERS)
    return _login_page(request, next_url)


async def _verify(request: Request, token: str) -> Principal:
    tokens = container(request).tokens
    if tokens.uses_jwks:
        return await run_in_threadpool(tokens.verify, token)
    return tokens.verify(token)


@router.post("/login", summary="Exchange a token for a session cookie.")
async def login(request: Request) -> Response:
    form = await read_form(request)
    next_url = safe_next(form.get("next"))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    submitted = form.get("csrf", "")
    if (
        not same_origin(request)
        or not expected
        or not hmac.compare_digest(expected.encode(), submitted.encode())
    ):
        return _login_page(
            request,
            next_url,
            "The sign-in form expired or came from another site. Try again.",
            status=403,
        )
    token = "".join(form.get("token", "").split())
    if not token:
        return _login_page(request, next_url, "Paste a token to sign in.", status=422)
    try:
        principal = await _verify(request, token)
    except CaudalError as exc:
        _log.info("web_sign_in_refused", code=exc.code)  # never the token
        return _login_page(request, next_url, f"That token was refused: {exc.detail}.", 401)
    cookie, session = await session_store(request).create(principal, token)
    _log.info("web_signed_in", subject=principal.subject, expires_at=session.expires_at.isoformat())
    response = RedirectResponse(next_url, status_code=303, headers=PAGE_HEADERS)
    max_age = max(1, int((session.expires_at - datetime.now(UTC)).total_seconds()))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request, container(request).settings.web.cookie_secure),
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout", summary="End the session (CSRF-checked).")
async def logout(
    request: Request, session: Annotated[WebSession | None, Depends(current_session)]
) -> Response:
    if session is None:
        return RedirectResponse("/login", status_code=303, headers=PAGE_HEADERS)
    form = await checked_form(request, session, "Sign-out")
    if isinstance(form, Response):
        return form
    await session_store(request).delete(session)
    _log.info("web_signed_out", subject=session.subject)
    response = RedirectResponse("/login?signed_out=1", status_code=303, headers=PAGE_HEADERS)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
