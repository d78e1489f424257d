"""Fetch one capability's route as the session, turning every failure into a `Section`."""

from __future__ import annotations

import uuid
from typing import Any

from caudal.web.internal_api import InternalApi, has_route
from caudal.web.section import Section
from caudal.web.sessions import WebSession


class Reader:
    """What a page needs to read the API: the app, the session, and an in-process client."""

    def __init__(self, app: Any, session: WebSession, trace_key: str | None = None) -> None:
        self.app = app
        self.session = session
        self.trace_key = trace_key
        self.api = InternalApi(app, session.token, trace_key)

    @classmethod
    def of(cls, request: Any, session: WebSession) -> Reader:
        """The reader of one page request, carrying its trace key to the API calls."""
        return cls(request.app, session, getattr(request.state, "trace_key", None))

    def has(self, route: str) -> bool:
        return has_route(self.app, route)

    async def get(
        self, what: str, scope: str, path: str, *, route: str | None = None, **params: Any
    ) -> Section:
        if not self.session.has(scope):
            return Section.forbidden(scope)
        if not self.has(route or path):
            return Section.unavailable(what)
        result = await self.api.get(path, **params)
        if result.status == 403:
            return Section.forbidden(scope)
        if result.status == 404:
            return Section("ok", None, result.detail)
        if not result.ok:
            return Section.error(f"{what}: {result.detail}")
        return Section.of(result.body)


def is_uuid(value: str) -> bool:
    """Ids in page URLs are checked before they reach an API path."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
