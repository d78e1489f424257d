"""Revealing a quarantined payload from the dashboard (in-process, real PostgreSQL and KMS files):
a CSRF-checked form per entry, the API's redaction and audit record under the session's subject,
the scope it needs, and a payload shredded at its TTL shown as such."""

from __future__ import annotations

import html
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
from structlog.testing import capture_logs

from caudal.events.quarantine_seal import QuarantineSealer
from caudal.events.retention import EventsRetention
from caudal.platform.bootstrap import Container
from caudal.platform.clock import FakeClock
from caudal.platform.kms_backend import build_kms
from tests.integration.web.conftest import page_csrf

SignIn = Callable[..., Awaitable[httpx.Response]]
Auth = Callable[..., dict[str, str]]
CPF = "529.982.247-25"
ORIGIN = {"Origin": "http://caudal.test"}
DAY = 86400.0


async def quarantine_one(client: httpx.AsyncClient, auth: Auth) -> str:
    """A backend event of a type nobody registered, carrying a CPF: held, sealed at rest."""
    event = {
        "eventType": "ops-ui-unregistered",
        "eventDateTime": "2026-11-22T10:00:00-0300",
        "version": "1.0",
        "data": {"cpf": CPF, "points": 7},
    }
    posted = await client.post("/v1/events/backend", json=event, headers=auth("events:write"))
    assert posted.status_code == 422, posted.text
    entry_id: str = posted.json()["rejected"][0]["quarantine_id"]
    return entry_id


def revealed_json(page: str) -> object:
    start = page.index('<pre class="json" id="revealed-payload"><code>') + len(
        '<pre class="json" id="revealed-payload"><code>'
    )
    return json.loads(html.unescape(page[start : page.index("</code></pre>", start)]))


async def test_reveal_shows_the_redacted_payload_and_is_audited_under_the_session(
    client: httpx.AsyncClient, signed_in: SignIn, auth: Auth
) -> None:
    entry = await quarantine_one(client, auth)
    await signed_in("events:read", subject="ops-reader")
    listing = (await client.get("/quarantine", params={"type": "ops-ui-unregistered"})).text
    form = (
        f'<form class="inline" method="post" action="/quarantine/{entry}/reveal">\n'
        f'              <input type="hidden" name="csrf" value="{page_csrf(listing)}">\n'
        '              <input type="hidden" name="type" value="ops-ui-unregistered">'
    )
    assert form in listing
    assert '<button type="submit" class="reveal"' in listing
    assert 'action="/quarantine/replay"' not in listing  # events:read reveals, never replays
    assert CPF not in listing and "529982247" not in listing

    forged = await client.post(f"/quarantine/{entry}/reveal", data={"csrf": "x"}, headers=ORIGIN)
    assert forged.status_code == 403 and "Reveal refused" in forged.text

    with capture_logs() as logs:
        shown = await client.post(
            f"/quarantine/{entry}/reveal",
            data={"csrf": page_csrf(listing), "type": "ops-ui-unregistered"},
            headers=ORIGIN,
        )
    assert shown.status_code == 200
    page = shown.text
    assert f'<section class="reveal-result" id="reveal-result" data-entry="{entry}"' in page
    assert revealed_json(page) == {
        "eventDateTime": "2026-11-22T10:00:00-0300",
        "eventType": "ops-ui-unregistered",
        "version": "1.0",
        "data": {"cpf": "[redacted]", "points": 7},
    }
    assert "recorded in the audit log under <code>ops-reader</code>" in page
    row = f'<tr class="quarantine-row revealed" data-type="ops-ui-unregistered" data-id="{entry}">'
    assert row in page
    assert CPF not in page and "529982247" not in page
    # the listing keeps its filters: the hidden field travelled with the form
    assert '<input id="q-type" name="type" value="ops-ui-unregistered">' in page
    audit = [e for e in logs if e["event"] == "quarantine_revealed"]
    assert [(e["subject"], e["entry"]) for e in audit] == [("ops-reader", entry)]
    assert CPF not in repr(logs)


async def test_reveal_needs_events_read(
    client: httpx.AsyncClient, signed_in: SignIn, auth: Auth
) -> None:
    entry = await quarantine_one(client, auth)
    await signed_in("monitor:read")
    listing = (await client.get("/quarantine")).text
    assert "/reveal" not in listing
    with capture_logs() as logs:
        refused = await client.post(
            f"/quarantine/{entry}/reveal", data={"csrf": page_csrf(listing)}, headers=ORIGIN
        )
    assert refused.status_code == 200
    assert "lacks the scope &#39;events:read&#39;" in refused.text
    assert 'id="revealed-payload"' not in refused.text
    assert [e for e in logs if e["event"] == "quarantine_revealed"] == []


async def test_a_shredded_payload_unknown_and_malformed_ids(
    container: Container, client: httpx.AsyncClient, signed_in: SignIn, auth: Auth
) -> None:
    entry = await quarantine_one(client, auth)
    # the retention worker of a process whose clock is past the 30-day TTL destroys the day key
    clock = FakeClock(datetime.now(UTC) + timedelta(days=31))
    ttl = timedelta(days=container.settings.events.quarantine_ttl_days)
    sealer = QuarantineSealer(build_kms(container.settings), ttl, clock)
    purged = await EventsRetention(container.database, container.settings, sealer).purge()
    assert purged["quarantine_days_shredded"] == 1
    await signed_in()
    csrf = page_csrf((await client.get("/quarantine")).text)
    with capture_logs() as logs:
        gone = await client.post(f"/quarantine/{entry}/reveal", data={"csrf": csrf}, headers=ORIGIN)
    assert gone.status_code == 200
    assert (
        '<p class="notice notice-shredded" role="status" id="reveal-shredded"'
        ' data-code="CAU-EVT-QUARANTINE-SHREDDED"><strong>Shredded.</strong>'
    ) in gone.text
    assert "outlived the quarantine's 30-day TTL" in gone.text
    assert 'id="revealed-payload"' not in gone.text
    assert [e for e in logs if e["event"] == "quarantine_revealed"] == []  # nothing was shown

    unknown = await client.post(
        f"/quarantine/{uuid.uuid4()}/reveal", data={"csrf": csrf}, headers=ORIGIN
    )
    assert "No such quarantine entry: it was discarded, or never held." in unknown.text
    malformed = await client.post("/quarantine/x/reveal", data={"csrf": csrf}, headers=ORIGIN)
    assert malformed.status_code == 404 and "No such quarantine entry." in malformed.text
