"""The NATS bus against a secured nats-server, as docs/configuration.md documents it: user and
password over mutual TLS (`tls://` URL, CA, client certificate and key). Wrong credentials or
a missing client certificate are refused, and `/readyz`'s check and `caudal doctor` say so."""

from __future__ import annotations

import datetime as dt
import gc
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from caudal.bus.nats_connection import NatsConnection
from caudal.bus.nats_doctor import check
from caudal.platform.settings import BusSettings
from tests.support.nats import running_nats


def _issue(
    directory: Path, name: str, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for 127.0.0.1 (a CA when `issuer` is None) written as <name>.pem/.key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"caudal test {name}")])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


# nats-py drops the TLS stream of a connection the server refuses without closing it; the
# garbage collector then reports it (ResourceWarning, raised as an unraisable warning under
# `-W error`) at an unpredictable moment. Collected here, inside this test's own filter.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore:unclosed <StreamWriter:ResourceWarning")
async def test_user_password_over_mutual_tls_and_what_a_wrong_setting_gets(
    tmp_path: Path,
) -> None:
    ca = _issue(tmp_path, "ca", None)
    _issue(tmp_path, "server", ca)
    _issue(tmp_path, "client", ca)
    options = ["--user", "bus", "--pass", "s3cret-pw", "--tlsverify"]
    options += ["--tlscert", str(tmp_path / "server.pem"), "--tlskey", str(tmp_path / "server.key")]
    options += ["--tlscacert", str(tmp_path / "ca.pem")]
    with running_nats(options=options) as server:
        settings = BusSettings(
            backend="nats",
            nats_url=f"tls://127.0.0.1:{server.port}",
            nats_namespace="secured",
            nats_user="bus",
            nats_password=SecretStr("s3cret-pw"),
            nats_tls_ca=tmp_path / "ca.pem",
            nats_tls_cert=tmp_path / "client.pem",
            nats_tls_key=tmp_path / "client.key",
        )
        connection = NatsConnection(settings)
        try:
            assert await connection.readiness() == (True, "ready")
            await connection.send([("m-1", "t", "k", b"{}")])
            js = await connection.js()
            assert (await js.stream_info("secured_bus")).state.messages == 1
        finally:
            await connection.close()
        assert [f.ok for f in await check(settings)] == [True, True, True, True]

        wrong = settings.model_copy(update={"nats_password": SecretStr("guess")})
        refused = NatsConnection(wrong)
        ready, reason = await refused.readiness()
        await refused.close()
        assert not ready and reason.startswith("NATS JetStream is unavailable")
        [finding] = await check(wrong)
        assert not finding.ok and "NATS unreachable" in finding.text
        assert "CAUDAL_BUS__NATS_CREDS" in finding.hint

        no_client_cert = settings.model_copy(update={"nats_tls_cert": None, "nats_tls_key": None})
        [finding] = await check(no_client_cert)
        assert not finding.ok
    gc.collect()  # the refused connections' streams: reported in this test, not a later one
