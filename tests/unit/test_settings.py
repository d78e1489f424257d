from pathlib import Path

import pytest
from pydantic import ValidationError

from caudal.platform.settings import Settings, redacted


def test_defaults_are_embedded_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("CAUDAL_DATABASE_URL", "CAUDAL_HOST", "CAUDAL_PORT", "CAUDAL_HOME"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings()
    assert settings.embedded_database
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.home == (Path.cwd() / ".caudal").resolve()
    assert settings.http.max_body_bytes == 1024 * 1024


def test_environment_with_nested_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CAUDAL_DATABASE_URL", "postgresql://u:pw@db:5432/caudal")
    monkeypatch.setenv("CAUDAL_PORT", "9001")
    monkeypatch.setenv("CAUDAL_HOME", str(tmp_path))
    monkeypatch.setenv("CAUDAL_AUTH__ISSUER", "https://id.example")
    monkeypatch.setenv("CAUDAL_HTTP__MAX_BODY_BYTES", "2048")
    settings = Settings()
    assert not settings.embedded_database
    assert settings.port == 9001
    assert settings.home == tmp_path
    assert settings.auth.issuer == "https://id.example"
    assert settings.http.max_body_bytes == 2048


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CAUDAL_PORT", "70000"),
        ("CAUDAL_PORT", "http"),
        ("CAUDAL_HTTP__MAX_BODY_BYTES", "0"),
        ("CAUDAL_DATABASE_APP_ROLE", "Robert'); DROP TABLE--"),
        ("CAUDAL_LOG_LEVEL", "verbose"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, key: str, value: str) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError):
        Settings()


def test_redacted_hides_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAUDAL_DATABASE_URL", "postgresql://u:hunter2@db/caudal")
    monkeypatch.setenv("CAUDAL_AUTH__SECRET", "s3cr3t-value")
    monkeypatch.setenv("CAUDAL_DATABASE_APP_PASSWORD", "app-pw")
    monkeypatch.setenv("CAUDAL_BUS__NATS_URL", "nats://bus:nats-pw@n1:4222,tls://nats-tok@n2:4222")
    monkeypatch.setenv("CAUDAL_BUS__NATS_PASSWORD", "nats-pw2")
    shown = redacted(Settings())
    text = str(shown)
    for secret in ("hunter2", "s3cr3t-value", "app-pw", "nats-pw", "nats-tok"):
        assert secret not in text
    assert "**********" in text
    assert shown["bus"]["nats_url"] == "nats://**********@n1:4222,tls://**********@n2:4222"
