"""Quarantined payloads are sealed at rest: listed as metadata only, revealed while the day key
exists, crypto-shredded after the TTL (a fake clock moves past it), and payloads an older
version stored in clear get sealed by the retention worker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta

import httpx

from caudal.events import runtime
from caudal.events.quarantine import replay
from caudal.events.quarantine_seal import QuarantineSealer
from caudal.events.retention import EventsRetention
from caudal.platform.bootstrap import Container
from caudal.platform.clock import FakeClock
from caudal.platform.kms_backend import build_kms
from tests.integration.events.conftest import SEED_SELFIE, Sql

Auth = Callable[..., dict[str, str]]
DAY = 86400.0


async def test_sealed_payload_is_revealed_until_its_ttl_then_shredded(
    client: httpx.AsyncClient, auth: Auth, db: Sql, container: Container
) -> None:
    clock = FakeClock()
    secret = "Maria Sigilosa da Silva"
    bad = {**SEED_SELFIE, "data": {"selfield": 42, "nome_livre": secret}}
    posted = await client.post("/v1/events/backend", json=bad, headers=auth("events:write"))
    assert posted.status_code == 422
    entry_id = posted.json()["rejected"][0]["quarantine_id"]
    reader = auth("events:read")

    [(payload, sealed, key_epoch)] = db.rows(
        "SELECT payload, sealed, key_epoch FROM events.quarantine"
    )
    assert payload is None and secret.encode() not in bytes(sealed)
    assert key_epoch == f"quarantine-day-{clock.now():%Y-%m-%d}"
    listed = (await client.get("/v1/quarantine", headers=reader)).json()["items"]
    assert [(e["id"], e["payload"], e["code"]) for e in listed] == [
        (entry_id, None, "CAU-EVT-SCHEMA-VIOLATION")
    ]
    revealed = await client.get(f"/v1/quarantine/{entry_id}/payload", headers=reader)
    assert revealed.status_code == 200 and revealed.json()["payload"] == bad
    writer_only = await client.get(
        f"/v1/quarantine/{entry_id}/payload", headers=auth("events:write")
    )
    assert writer_only.status_code == 403
    missing = await client.get(f"/v1/quarantine/{uuid.uuid4()}/payload", headers=reader)
    assert missing.status_code == 404

    # the retention worker of another process, whose clock moves past the TTL
    sealer = QuarantineSealer(
        build_kms(container.settings),
        timedelta(days=container.settings.events.quarantine_ttl_days),
        clock,
    )
    retention = EventsRetention(container.database, container.settings, sealer)
    clock.advance(29 * DAY)  # within the 30-day TTL: nothing shredded
    assert (await retention.purge())["quarantine_days_shredded"] == 0
    assert (
        await client.get(f"/v1/quarantine/{entry_id}/payload", headers=reader)
    ).status_code == 200

    clock.advance(2 * DAY)
    assert (await retention.purge())["quarantine_days_shredded"] == 1
    assert list((container.settings.home / "kms").glob("quarantine-day-*")) == []
    gone = await client.get(f"/v1/quarantine/{entry_id}/payload", headers=reader)
    assert gone.status_code == 410 and gone.json()["code"] == "CAU-EVT-QUARANTINE-SHREDDED"
    # the metadata stays listed; a replay reports the entry instead of publishing anything
    listed = (await client.get("/v1/quarantine", headers=reader)).json()["items"]
    assert [e["id"] for e in listed] == [entry_id]
    events = runtime.get(container)
    report = await replay(container.database, events.bus, events.catalog, events.limits, sealer)
    assert report.replayed == []
    assert [f["code"] for f in report.still_invalid] == ["CAU-EVT-QUARANTINE-SHREDDED"]


async def test_payloads_stored_in_clear_by_an_older_version_get_sealed(
    client: httpx.AsyncClient, auth: Auth, db: Sql, container: Container
) -> None:
    entry_id = str(uuid.uuid4())
    token = "ab" * 32
    payload = {"eventType": "card-purchase", "data": {"cpf": token, "nome": "Ana Antiga"}}
    db.execute(
        "INSERT INTO events.quarantine (id, received_at, source, type, version, reason, code,"
        " message, payload) VALUES (%s, now(), 'backend', 'card-purchase', '1.0', 'schema',"
        " 'CAU-EVT-SCHEMA-VIOLATION', 'invalid', %s)",
        entry_id,
        json.dumps(payload),
    )
    retention = EventsRetention(
        container.database, container.settings, runtime.get(container).sealer
    )
    assert (await retention.purge())["quarantine_sealed"] == 1
    [(clear, sealed, tokens)] = db.rows("SELECT payload, sealed, tokens FROM events.quarantine")
    assert clear is None and b"Ana Antiga" not in bytes(sealed) and tokens == [token]
    revealed = await client.get(f"/v1/quarantine/{entry_id}/payload", headers=auth("events:read"))
    # revealed with its personal values redacted, by the marks of card-purchase's schema
    shown = {**payload, "data": {"cpf": "[redacted]", "nome": "[redacted]"}}
    assert revealed.json() == {"id": entry_id, "payload": shown}
    assert (await retention.purge())["quarantine_sealed"] == 0
