import base64
import json
import time

import jwt
import pytest
from pydantic import SecretStr

from caudal.platform.auth import TokenService, load_or_create_secret
from caudal.platform.clock import FakeClock
from caudal.platform.errors import CaudalError
from caudal.platform.settings import AuthSettings

SECRET = "unit-secret-unit-secret-unit-secret-0001"


@pytest.fixture
def service() -> TokenService:
    return TokenService(AuthSettings(leeway_seconds=0), SECRET)


def _claims(**over: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "alice",
        "scope": "ledger:read",
        "iss": "caudal",
        "aud": "caudal",
        "iat": now,
        "exp": now + 60,
    }
    claims.update(over)
    return claims


def _rejected(service: TokenService, token: str) -> CaudalError:
    with pytest.raises(CaudalError) as info:
        service.verify(token)
    assert info.value.status == 401
    return info.value


def test_round_trip_keeps_subject_and_scopes(service: TokenService) -> None:
    principal = service.verify(service.mint("alice", ["ledger:read", "events:write"], 60))
    assert principal.subject == "alice"
    assert principal.scopes == {"ledger:read", "events:write"}


def test_scp_list_claim_is_understood(service: TokenService) -> None:
    token = jwt.encode(_claims(scope=None, scp=["a:b", "c:d"]), SECRET, algorithm="HS256")
    assert service.verify(token).scopes == {"a:b", "c:d"}


def test_alg_none_is_rejected(service: TokenService) -> None:
    def b64(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(_claims())}."
    assert _rejected(service, token).code == "CAU-AUTH-INVALID-TOKEN"


def test_expired_token_is_rejected(service: TokenService) -> None:
    token = jwt.encode(_claims(exp=int(time.time()) - 5), SECRET, algorithm="HS256")
    assert _rejected(service, token).code == "CAU-AUTH-EXPIRED"


@pytest.mark.parametrize("claim", [{"iss": "evil"}, {"aud": "someone-else"}])
def test_wrong_issuer_or_audience_is_rejected(service: TokenService, claim: dict[str, str]) -> None:
    _rejected(service, jwt.encode(_claims(**claim), SECRET, algorithm="HS256"))


def test_tampered_payload_is_rejected(service: TokenService) -> None:
    header, _, signature = service.mint("alice", ["ledger:read"], 60).split(".")
    forged = (
        base64.urlsafe_b64encode(json.dumps(_claims(scope="admin")).encode()).rstrip(b"=").decode()
    )
    _rejected(service, f"{header}.{forged}.{signature}")


def test_other_secret_and_garbage_are_rejected(service: TokenService) -> None:
    _rejected(
        service, jwt.encode(_claims(), "another-secret-another-secret-000", algorithm="HS256")
    )
    _rejected(service, "not-a-jwt")


def test_missing_expiry_is_rejected(service: TokenService) -> None:
    claims = _claims()
    del claims["exp"]
    _rejected(service, jwt.encode(claims, SECRET, algorithm="HS256"))


def test_configured_secret_is_used() -> None:
    settings = AuthSettings(secret=SecretStr(SECRET))
    assert settings.secret is not None


def test_secret_file_is_created_private_and_reused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = load_or_create_secret(tmp_path)
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret(tmp_path) == first
    assert len(first) >= 32


def test_verified_tokens_are_cached_only_until_expiry() -> None:
    clock = FakeClock()
    service = TokenService(AuthSettings(leeway_seconds=0), SECRET, clock)
    token = jwt.encode(_claims(exp=int(clock.time()) + 2), SECRET, algorithm="HS256")
    first = service.verify(token)
    assert service.verify(token) is first  # served from the cache
    clock.advance(2.1)
    assert _rejected(service, token).code == "CAU-AUTH-EXPIRED"
