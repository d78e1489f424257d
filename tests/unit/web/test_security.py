from __future__ import annotations

import pytest

from caudal.web.security import safe_next


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/events?type=click", "/events?type=click"),
        ("/", "/"),
        (None, "/"),
        ("", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("events", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
    ],
)
def test_login_only_returns_to_a_local_path(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected
