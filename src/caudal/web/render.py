"""Jinja2 templates shipped in the package, rendered with the security headers of every page."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse

from caudal import __version__
from caudal.web.security import PAGE_HEADERS
from caudal.web.sessions import WebSession

NAV = (
    ("overview", "/", "Overview"),
    ("events", "/events", "Events"),
    ("quarantine", "/quarantine", "Quarantine"),
    ("customers", "/customers", "Customers"),
    ("ledger", "/ledger", "Ledger"),
    ("pipelines", "/pipelines", "Pipelines"),
)


def when(value: Any) -> str:
    """An ISO timestamp as `2026-11-22 01:02:03 UTC`; anything else as given."""
    if value in (None, ""):
        return "—"
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def money(value: Any) -> str:
    if value in (None, ""):
        return "—"
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    return f"{amount:,.2f}"


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("caudal.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["money"] = money
    env.filters["pretty"] = pretty
    env.globals["nav"] = NAV
    env.globals["version"] = __version__
    return env


def render(
    template: str,
    *,
    session: WebSession | None,
    active: str = "",
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    html = environment().get_template(template).render(session=session, active=active, **context)
    return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})
