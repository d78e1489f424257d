"""JWT bearer tokens: HS256 with a local secret, or RS256/ES256 from an external JWKS."""

from __future__ import annotations

import os
import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from caudal.platform.clock import SYSTEM_CLOCK, Clock
from caudal.platform.errors import CaudalError
from caudal.platform.settings import AuthSettings

_CACHE_SIZE = 10_000
_ASYMMETRIC = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


@dataclass(frozen=True)
class Principal:
    subject: str
    scopes: frozenset[str]
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def unauthorized(detail: str, code: str = "CAU-AUTH-INVALID-TOKEN") -> CaudalError:
    return CaudalError(
        code=code,
        detail=detail,
        status=401,
        title="Unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="caudal"'},
    )


def forbidden(scope: str) -> CaudalError:
    return CaudalError(
        code="CAU-AUTH-FORBIDDEN",
        detail=f"this token lacks the scope '{scope}' that this route requires",
        status=403,
        title="Forbidden",
        extra={"required_scope": scope},
    )


def load_or_create_secret(home: Path) -> str:
    """The HS256 secret kept in `<home>/secret.key` (0600), created on first run."""
    path = home / "secret.key"
    if path.exists():
        return path.read_text("utf-8").strip()
    home.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
    return value


def _scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    raw = claims.get("scope") or claims.get("scp") or []
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(str(s) for s in raw)
    return frozenset()


class TokenService:
    def __init__(
        self, settings: AuthSettings, secret: str | None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._settings = settings
        self._secret = secret
        self._clock = clock
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None
        # Verified tokens, until their expiry: a signature check costs more than most handlers.
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def uses_jwks(self) -> bool:
        return self._jwks is not None

    def mint(self, subject: str, scopes: Iterable[str], ttl_seconds: int | None = None) -> str:
        if self._secret is None:
            raise CaudalError(
                code="CAU-AUTH-NO-SECRET",
                detail="tokens are issued by the external identity provider (JWKS mode)",
                status=400,
            )
        now = int(self._clock.time())
        claims = {
            "sub": subject,
            "scope": " ".join(sorted(set(scopes))),
            "iss": self._settings.issuer,
            "aud": self._settings.audience,
            "iat": now,
            "nbf": now,
            "exp": now + (ttl_seconds or self._settings.default_ttl_seconds),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Principal:
        """Reject `alg: none`, wrong algorithms, bad signatures, expiry, issuer and audience."""
        now = self._clock.time()
        with self._lock:
            hit = self._verified.get(token)
            if hit is not None and hit[1] > now:
                self._verified.move_to_end(token)
                return hit[0]
        principal = self._verify(token)
        with self._lock:
            self._verified[token] = (principal, float(principal.claims["exp"]))
            while len(self._verified) > _CACHE_SIZE:
                self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> Principal:
        try:
            if self._jwks is not None:
                key: Any = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = _ASYMMETRIC
            else:
                key, algorithms = self._secret, ["HS256"]
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=self._settings.leeway_seconds,
                # expiry is checked below, against our clock
                options={"require": ["exp", "iat", "sub", "iss", "aud"], "verify_exp": False},
            )
            if int(claims["exp"]) <= self._clock.time() - self._settings.leeway_seconds:
                raise jwt.ExpiredSignatureError("Signature has expired")
        except jwt.ExpiredSignatureError as exc:
            raise unauthorized("the token has expired; mint a new one", "CAU-AUTH-EXPIRED") from exc
        except jwt.InvalidAudienceError as exc:
            raise unauthorized("the token is for another audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise unauthorized("the token comes from an untrusted issuer") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise unauthorized("the token is invalid: bad signature, algorithm or claims") from exc
        return Principal(subject=str(claims["sub"]), scopes=_scopes_of(claims), claims=claims)
