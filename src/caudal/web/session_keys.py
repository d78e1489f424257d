"""What a session cookie's random value derives: the row id, the sealing key, the CSRF token.

Pure functions (no I/O): the cookie value is the only secret and is never stored.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

COOKIE_BYTES = 32


def new_cookie_value() -> str:
    return secrets.token_urlsafe(COOKIE_BYTES)


def _derive(raw: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        raw.encode("ascii", "replace")
    )


@dataclass(frozen=True)
class SessionKeys:
    """Everything derived from one cookie value."""

    id: str
    key: bytes
    csrf: str

    @classmethod
    def of(cls, cookie_value: str) -> SessionKeys:
        return cls(
            id=_derive(cookie_value, b"caudal-web/session-id").hex(),
            key=_derive(cookie_value, b"caudal-web/token-key"),
            csrf=base64.urlsafe_b64encode(_derive(cookie_value, b"caudal-web/csrf"))
            .rstrip(b"=")
            .decode(),
        )

    def seal(self, token: str) -> tuple[bytes, bytes]:
        nonce = os.urandom(12)
        return nonce, AESGCM(self.key).encrypt(nonce, token.encode(), self.id.encode())

    def open(self, nonce: bytes, sealed: bytes) -> str | None:
        try:
            return AESGCM(self.key).decrypt(nonce, sealed, self.id.encode()).decode()
        except (InvalidTag, ValueError):
            return None

    def csrf_matches(self, submitted: str | None) -> bool:
        # bytes: compare_digest raises TypeError on a str that is not ASCII (a forged value)
        return submitted is not None and hmac.compare_digest(submitted.encode(), self.csrf.encode())


def plausible_cookie(value: str | None) -> bool:
    """Cheap shape check before any hashing or database work."""
    return value is not None and 20 <= len(value) <= 100 and value.isascii()
