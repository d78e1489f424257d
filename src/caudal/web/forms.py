"""Small urlencoded forms (login, logout, replay) read without a multipart dependency, and the
CSRF gate every state-changing form passes."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from caudal.platform.http.nul import refuse_nul_in_fields
from caudal.web.render import render
from caudal.web.section import Section
from caudal.web.security import PAGE_HEADERS, same_origin
from caudal.web.sessions import WebSession

MAX_FORM_BYTES = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    try:
        parsed = parse_qs(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=20
        )
    except ValueError:  # too many fields
        return {}
    form = {key: values[0] for key, values in parsed.items() if values}
    refuse_nul_in_fields(form, "form.")
    return form


async def checked_form(
    request: Request, session: WebSession, action: str
) -> dict[str, str] | Response:
    """The submitted form of a state-changing action, or the 403 page when its origin or CSRF
    token does not match the session."""
    form = await read_form(request)
    if same_origin(request) and session.keys.csrf_matches(form.get("csrf")):
        return form
    return render(
        "message.html",
        session=session,
        status=403,
        title=f"{action} refused",
        message="The form expired or came from another site; reload the page and try again.",
    )


def action_outcome(result: Section, session: WebSession, target: str, failed: str) -> Response:
    """After an action: back to `target` (303) when it worked, else a page saying why."""
    if result.ok:
        return RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
    return render(
        "message.html",
        session=session,
        status=403 if result.state == "forbidden" else 503,
        title=failed,
        message=result.message,
    )
