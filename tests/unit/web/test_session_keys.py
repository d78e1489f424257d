from __future__ import annotations

from datetime import UTC, datetime, timedelta

from caudal.platform.auth import Principal
from caudal.web.session_keys import SessionKeys, new_cookie_value, plausible_cookie
from caudal.web.sessions import session_expiry


def test_keys_are_derived_deterministically_and_differ_per_cookie() -> None:
    cookie = new_cookie_value()
    a, b = SessionKeys.of(cookie), SessionKeys.of(cookie)
    other = SessionKeys.of(new_cookie_value())
    assert a == b
    assert a.id != other.id and a.key != other.key and a.csrf != other.csrf
    assert cookie not in (a.id, a.csrf)  # the cookie value itself is never stored
    assert len(a.id) == 64 and len(a.key) == 32


def test_sealed_token_opens_only_with_the_same_cookie() -> None:
    keys = SessionKeys.of(new_cookie_value())
    nonce, sealed = keys.seal("eyJ.token.value")
    assert b"eyJ.token.value" not in sealed
    assert keys.open(nonce, sealed) == "eyJ.token.value"
    assert SessionKeys.of(new_cookie_value()).open(nonce, sealed) is None
    assert keys.open(nonce, sealed[:-1] + bytes([sealed[-1] ^ 1])) is None


def test_csrf_token_must_match_exactly() -> None:
    keys = SessionKeys.of(new_cookie_value())
    assert keys.csrf_matches(keys.csrf)
    assert not keys.csrf_matches(None)
    assert not keys.csrf_matches("")
    assert not keys.csrf_matches(keys.csrf[:-1])


def test_plausible_cookie_rejects_junk_before_any_work() -> None:
    assert plausible_cookie(new_cookie_value())
    assert not plausible_cookie(None)
    assert not plausible_cookie("short")
    assert not plausible_cookie("x" * 500)
    assert not plausible_cookie("é" * 30)


def test_session_never_outlives_the_token() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    soon = Principal("u", frozenset(), {"exp": int((now + timedelta(minutes=5)).timestamp())})
    late = Principal("u", frozenset(), {"exp": int((now + timedelta(days=30)).timestamp())})
    assert session_expiry(soon, now, 8 * 3600) == now + timedelta(minutes=5)
    assert session_expiry(late, now, 8 * 3600) == now + timedelta(hours=8)
    assert session_expiry(Principal("u", frozenset(), {}), now, 60) == now + timedelta(seconds=60)
