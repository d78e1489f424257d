"""The `webhook` sink: batches of events POSTed to a URL, signed with HMAC-SHA256.

Request: `POST <url>`, JSON body `{"batch_id": ..., "events": [canonical event, ...]}`, headers
`Idempotency-Key: <batch_id>` (the same events always give the same key) and
`Caudal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.
Receivers verify the signature (see `verify_signature`), refuse old timestamps, and dedupe on the
event ids: delivery is at-least-once.

Retries: connection errors, timeouts, 408, 425, 429 and 5xx are retried with exponential backoff
(honouring Retry-After) up to `CAUDAL_WEBHOOK__MAX_ATTEMPTS`; then the batch fails and the bus
retries it event by event and dead-letters what still fails (`caudal bus dlq --group webhook`).
Other 4xx answers fail at once: the receiver refused the request itself.

Behind the erasure barrier (`events/erasure_barrier.py`): before each attempt, the events
received before the erasure of a CPF token they hold are left out of the batch (and an empty
batch is not sent). A POST already on the wire when an erasure commits is not recalled.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime

import httpx
import orjson
import structlog
from prometheus_client import Counter

from caudal.events import erasure_barrier
from caudal.events.erasure_barrier import ErasedTokens
from caudal.events.erasure_barrier_postgres import PostgresErasedTokens
from caudal.events.model import CanonicalEvent
from caudal.platform.db.pool import Database
from caudal.platform.settings import WebhookSettings

NAME = "webhook"
SIGNATURE_HEADER = "Caudal-Signature"
_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})

_log = structlog.get_logger("caudal.webhook")

DELIVERIES = Counter(
    "caudal_webhook_requests_total", "Webhook POSTs by outcome (ok, retry, failed).", ["outcome"]
)


class WebhookError(RuntimeError):
    """The receiver did not accept the batch (the bus retries, then dead-letters)."""


class WebhookNotConfigured(ValueError):
    pass


def batch_id(events: Sequence[CanonicalEvent]) -> str:
    """Stable for the same events: a redelivered batch carries the same idempotency key."""
    digest = hashlib.sha256("\n".join(sorted(e.id for e in events)).encode()).hexdigest()
    return f"whb_{digest[:32]}"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, body: bytes, header: str, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: check the HMAC and refuse timestamps outside the tolerance."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


class WebhookSink:
    name = NAME

    def __init__(
        self,
        settings: WebhookSettings,
        client: httpx.AsyncClient | None = None,
        database: Database | None = None,
        erased: ErasedTokens | None = None,
    ) -> None:
        if settings.url and settings.secret is None:
            raise WebhookNotConfigured(
                "CAUDAL_WEBHOOK__URL is set but CAUDAL_WEBHOOK__SECRET is not: "
                "the webhook sink signs every request"
            )
        self.settings = settings
        self._client = client
        self._warned = False
        self._database = database  # None: no barrier (a webhook sink outside a platform)
        self._erased = erased or PostgresErasedTokens()

    async def _not_erased(self, events: Sequence[CanonicalEvent]) -> Sequence[CanonicalEvent]:
        if self._database is None or not events:
            return events
        async with self._database.connection(autocommit=True) as conn:
            erased = await self._erased.since(
                conn, erasure_barrier.horizon(events), lambda: erasure_barrier.windows(events)
            )
        return erasure_barrier.kept(events, erased)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.settings.timeout_seconds, follow_redirects=False, trust_env=False
            )
        return self._client

    async def write(self, events: Sequence[CanonicalEvent]) -> None:
        url, secret = self.settings.url, self.settings.secret
        if not url or secret is None:
            if not self._warned:
                _log.warning("webhook_not_configured", hint="set CAUDAL_WEBHOOK__URL and __SECRET")
                self._warned = True
            DELIVERIES.labels("skipped").inc(len(events))
            return
        key, body, sent = "", b"", -1
        delay = self.settings.backoff_seconds
        attempts = self.settings.max_attempts
        last = "no attempt made"
        for attempt in range(1, attempts + 1):
            events = await self._not_erased(events)
            if not events:
                return
            if len(events) != sent:  # first attempt, or an erasure took events out meanwhile
                key, sent = batch_id(events), len(events)
                body = orjson.dumps({"batch_id": key, "events": [e.to_dict() for e in events]})
            headers = {
                "Content-Type": "application/json",
                "Idempotency-Key": key,
                SIGNATURE_HEADER: sign(secret.get_secret_value(), int(time.time()), body),
                "User-Agent": "caudal-webhook",
            }
            wait = delay
            try:
                response = await self._http().post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__} posting to the webhook"
            else:
                if response.is_success:
                    DELIVERIES.labels("ok").inc()
                    return
                last = f"webhook answered {response.status_code}"
                if response.status_code not in _RETRYABLE:
                    DELIVERIES.labels("failed").inc()
                    raise WebhookError(f"{last}; not retried (the receiver refused the request)")
                wait = max(delay, _retry_after(response) or 0.0)
            if attempt == attempts:
                break
            DELIVERIES.labels("retry").inc()
            _log.warning("webhook_retry", attempt=attempt, error=last, batch_id=key)
            await asyncio.sleep(min(wait, self.settings.max_backoff_seconds))
            delay = min(delay * 2, self.settings.max_backoff_seconds)
        DELIVERIES.labels("failed").inc()
        raise WebhookError(f"{last} after {attempts} attempt(s)")
