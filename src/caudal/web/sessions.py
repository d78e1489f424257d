"""Browser sessions in `web.sessions`: created at login from a verified token, deleted at logout."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg.rows import dict_row

from caudal.platform.auth import Principal
from caudal.platform.db.pool import Database
from caudal.platform.db.rows import fetch_one
from caudal.web.session_keys import SessionKeys, new_cookie_value, plausible_cookie

INSERT_SESSION = """
INSERT INTO web.sessions (id, subject, scopes, token_nonce, token_sealed, expires_at)
VALUES (%s, %s, %s, %s, %s, %s)
"""
SELECT_SESSION = """
SELECT subject, scopes, token_nonce, token_sealed, expires_at
FROM web.sessions WHERE id = %s AND expires_at > now()
"""
DELETE_SESSION = "DELETE FROM web.sessions WHERE id = %s"
DELETE_EXPIRED = "DELETE FROM web.sessions WHERE expires_at <= now()"


@dataclass(frozen=True)
class WebSession:
    """A signed-in browser: the token's subject and scopes, and the token to call the API with."""

    keys: SessionKeys
    subject: str
    scopes: frozenset[str]
    token: str
    expires_at: datetime

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def csrf(self) -> str:
        return self.keys.csrf


def session_expiry(principal: Principal, now: datetime, ttl_seconds: int) -> datetime:
    """The session ends at the token's expiry or after the configured lifetime, whichever first."""
    limit = now + timedelta(seconds=ttl_seconds)
    exp = principal.claims.get("exp")
    if isinstance(exp, int | float):
        limit = min(limit, datetime.fromtimestamp(exp, UTC))
    return limit


class SessionStore:
    def __init__(self, database: Database, ttl_seconds: int) -> None:
        self._db = database
        self._ttl = ttl_seconds

    async def create(self, principal: Principal, token: str) -> tuple[str, WebSession]:
        """A new session; returns the cookie value (shown to the browser only) and the session."""
        cookie = new_cookie_value()
        keys = SessionKeys.of(cookie)
        expires = session_expiry(principal, datetime.now(UTC), self._ttl)
        nonce, sealed = keys.seal(token)
        async with self._db.connection() as conn:
            await conn.execute(DELETE_EXPIRED)
            await conn.execute(
                INSERT_SESSION,
                (keys.id, principal.subject, sorted(principal.scopes), nonce, sealed, expires),
            )
        session = WebSession(keys, principal.subject, principal.scopes, token, expires)
        return cookie, session

    async def load(self, cookie: str | None) -> WebSession | None:
        if cookie is None or not plausible_cookie(cookie):
            return None
        keys = SessionKeys.of(cookie)
        async with self._db.connection() as conn:
            row = await fetch_one(conn, SELECT_SESSION, (keys.id,), dict_row)
        if row is None:
            return None
        token = keys.open(bytes(row["token_nonce"]), bytes(row["token_sealed"]))
        if token is None:
            return None
        return WebSession(keys, row["subject"], frozenset(row["scopes"]), token, row["expires_at"])

    async def delete(self, session: WebSession) -> None:
        async with self._db.connection() as conn:
            await conn.execute(DELETE_SESSION, (session.keys.id,))

    async def alive(self, session: WebSession) -> bool:
        """Still there and unexpired (logout elsewhere ends a live stream too)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(SELECT_SESSION, (session.keys.id,))
            return await cur.fetchone() is not None
