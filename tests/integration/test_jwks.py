"""RS256 tokens from an external identity provider, verified through its JWKS over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from caudal.platform.auth import TokenService
from caudal.platform.errors import CaudalError
from caudal.platform.settings import AuthSettings

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
    jwk.update({"kid": "k1", "use": "sig", "alg": "RS256"})
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


def _token(key: rsa.RSAPrivateKey, kid: str = "k1", **over: object) -> str:
    now = int(time.time())
    claims = {
        "sub": "svc",
        "scope": "events:write",
        "iss": "https://idp",
        "aud": "caudal",
        "iat": now,
        "exp": now + 60,
        **over,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def test_rs256_token_from_jwks_is_accepted_and_others_rejected(jwks_url: str) -> None:
    service = TokenService(AuthSettings(jwks_url=jwks_url, issuer="https://idp"), None)
    principal = service.verify(_token(KEY))
    assert (principal.subject, principal.scopes) == ("svc", frozenset({"events:write"}))

    for bad in (
        _token(OTHER),
        _token(KEY, iss="https://evil"),
        _token(KEY, kid="unknown"),
        jwt.encode({"sub": "x"}, "a-shared-secret-a-shared-secret-0", algorithm="HS256"),
    ):
        with pytest.raises(CaudalError) as info:
            service.verify(bad)
        assert info.value.status == 401
