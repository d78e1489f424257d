"""The webhook sink against a real HTTP server on 127.0.0.1: signed, retried, dead-lettered."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from caudal.bus.postgres import PostgresBus
from caudal.events.intake import to_message
from caudal.events.model import CanonicalEvent
from caudal.events.router.consumer import SinkConsumer
from caudal.events.router.table import Routes
from caudal.events.sinks.webhook import (
    SIGNATURE_HEADER,
    WebhookError,
    WebhookNotConfigured,
    WebhookSink,
    batch_id,
    verify_signature,
)
from caudal.platform.bootstrap import Container
from caudal.platform.settings import WebhookSettings
from tests.support.bus import consuming, until

SECRET = "whsec-test-0123456789"


class Receiver:
    """A webhook receiver: answers the scripted statuses in turn (then 200), keeps requests."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.decide: Callable[[bytes], int] | None = None
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers.items()), body))
                if receiver.decide is not None:
                    status = receiver.decide(body)
                else:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/caudal"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def settings_for(url: str, **extra: Any) -> WebhookSettings:
    return WebhookSettings(
        url=url, secret=SecretStr(SECRET), backoff_seconds=0.01, max_backoff_seconds=0.05, **extra
    )


def ledger_event(n: int) -> CanonicalEvent:
    at = datetime(2026, 3, 1, 12, 0, n, tzinfo=UTC)
    return CanonicalEvent("ledger", "ledger.posted", "1", at, at, {"amount": f"{n}.50"})


async def test_a_batch_is_posted_signed_with_an_idempotency_key(receiver: Receiver) -> None:
    sink = WebhookSink(settings_for(receiver.url))
    events = [ledger_event(1), ledger_event(2)]
    try:
        await sink.write(events)
    finally:
        await sink.aclose()
    [(headers, body)] = receiver.requests
    assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER])
    assert not verify_signature("another-secret", body, headers[SIGNATURE_HEADER])
    assert not verify_signature(SECRET, body + b" ", headers[SIGNATURE_HEADER])
    assert headers["Idempotency-Key"] == batch_id(events) == batch_id(events[::-1])
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "batch_id": batch_id(events),
        "events": [e.to_dict() for e in events],
    }


async def test_a_500_is_retried_with_the_same_key_and_a_4xx_is_not(receiver: Receiver) -> None:
    sink = WebhookSink(settings_for(receiver.url, max_attempts=3))
    try:
        receiver.statuses = [500, 503]
        await sink.write([ledger_event(1)])
        assert len(receiver.requests) == 3
        assert len({h["Idempotency-Key"] for h, _ in receiver.requests}) == 1

        receiver.requests.clear()
        receiver.statuses = [400]
        with pytest.raises(WebhookError, match="webhook answered 400; not retried"):
            await sink.write([ledger_event(2)])
        assert len(receiver.requests) == 1

        receiver.requests.clear()
        receiver.statuses = [500, 500, 500]
        with pytest.raises(WebhookError, match="webhook answered 500 after 3 attempt"):
            await sink.write([ledger_event(3)])
        assert len(receiver.requests) == 3
    finally:
        await sink.aclose()


async def test_an_unreachable_receiver_fails_after_the_attempts() -> None:
    sink = WebhookSink(settings_for("http://127.0.0.1:9/nothing-listens", max_attempts=2))
    try:
        with pytest.raises(WebhookError, match="ConnectError posting to the webhook after 2"):
            await sink.write([ledger_event(1)])
    finally:
        await sink.aclose()


def test_a_url_without_a_secret_is_refused() -> None:
    with pytest.raises(WebhookNotConfigured, match="CAUDAL_WEBHOOK__SECRET"):
        WebhookSink(WebhookSettings(url="http://127.0.0.1:1/x"))


async def test_through_the_bus_failures_end_in_the_dead_letters_and_the_rest_is_delivered(
    bus: PostgresBus, receiver: Receiver
) -> None:
    sink = WebhookSink(settings_for(receiver.url, max_attempts=2))
    routes = Routes(None, {"lake", "realtime", "customers.activity", sink.name})
    good, bad, later = ledger_event(1), ledger_event(13), ledger_event(2)
    at = good.occurred_at
    click = CanonicalEvent("frontend", "click", "1", at, at, {})
    # The receiver refuses every request that carries the bad event.
    receiver.decide = lambda body: 500 if bad.id.encode() in body else 200
    try:
        async with consuming(bus, SinkConsumer(sink, routes)):
            await bus.publish([to_message(e) for e in (good, bad, click, later)])
            letters = []
            for _ in range(400):
                letters = await bus.dead_letters("webhook")
                if letters:
                    break
                await asyncio.sleep(0.05)
            await until(lambda: later.id in delivered(receiver), what="the event after it")
    finally:
        await sink.aclose()
    [letter] = letters
    assert (letter.message.id, letter.group) == (bad.id, "webhook")
    assert letter.last_error == "WebhookError: webhook answered 500 after 2 attempt(s)"
    assert {good.id, later.id} <= delivered(receiver)
    assert click.id not in delivered(receiver)  # the routes do not send clicks to the webhook


def delivered(receiver: Receiver) -> set[str]:
    """Ids of the events in requests the receiver accepted (answered 200)."""
    decide = receiver.decide or (lambda body: 200)
    return {
        e["id"]
        for _, body in receiver.requests
        if decide(body) == 200
        for e in json.loads(body)["events"]
    }


async def test_events_of_a_customer_erased_before_an_attempt_are_not_sent(
    receiver: Receiver, bus: PostgresBus, container: Container
) -> None:
    """The erasure barrier (events/erasure_barrier.py): checked before every attempt."""
    gone, kept = secrets.token_hex(32), secrets.token_hex(32)
    received = datetime.now(UTC) - timedelta(seconds=1)
    events = [
        CanonicalEvent("backend", "card-purchase", "1", received, received, {"cpf": t, "n": n})
        for n, t in enumerate((gone, kept))
    ]

    def erase_then_fail(body: bytes) -> int:
        """The first attempt fails; the customer is erased before the retry."""
        if len(receiver.requests) == 1:
            with psycopg.connect(container.owner_url) as conn:
                conn.execute(
                    "INSERT INTO events.erased_tokens (token, at) VALUES (%s, clock_timestamp())",
                    (gone,),
                )
            return 500
        return 200

    receiver.decide = erase_then_fail
    sink = WebhookSink(settings_for(receiver.url), database=container.database)
    try:
        await sink.write(events)
        await sink.write(events[:1])  # only the erased customer's: nothing to send
    finally:
        await sink.aclose()
    first, retried = receiver.bodies()
    assert [e["data"]["cpf"] for e in first["events"]] == [gone, kept]
    assert [e["data"]["cpf"] for e in retried["events"]] == [kept]
    assert retried["batch_id"] == batch_id(events[1:])
