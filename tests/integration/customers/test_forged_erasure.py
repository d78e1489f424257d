"""A producer's event that calls itself `customers.erased` erases nothing: only Base A's own
notice (source `customers`) does. A producer may register a schema of that type for its
`backend` events; without the source check it could wipe and bar any customer whose CPF token
it has seen in the lake."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import psycopg

from caudal.customers.base_c.sink import CustomersActivitySink
from caudal.customers.context import customers_of
from caudal.customers.events import ERASED, customer_event
from caudal.events.model import CanonicalEvent
from caudal.events.sinks.realtime import RealtimeSink
from caudal.platform.bootstrap import Container
from tests.integration.customers.test_erasure_barrier import batch, holding, tokens

HELD = {"recent": 2, "base_c.events": 2, "base_c.activity": 1}


async def _customer_with_events(container: Container) -> tuple[CustomersActivitySink, str]:
    target, other = tokens()
    sink = CustomersActivitySink(customers_of(container))
    events = batch(target, other, datetime.now(UTC))
    await RealtimeSink(container.database).write(events)
    await sink.write(events)
    assert holding(container.owner_url, target) == HELD
    return sink, target


async def test_a_backend_event_typed_customers_erased_erases_and_bars_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    sink, target = await _customer_with_events(container)
    notice = customer_event(ERASED, str(uuid.uuid4()), bytes.fromhex(target), None).payload
    forged = CanonicalEvent.from_dict({**notice, "source": "backend"})
    await sink.write([forged])

    assert holding(container.owner_url, target) == HELD
    with psycopg.connect(container.owner_url) as conn:
        barred = conn.execute("SELECT count(*) FROM events.erased_tokens").fetchone()
    assert barred == (0,)  # the customer's next events are not held back either


async def test_base_as_own_erasure_notice_still_erases(
    client: httpx.AsyncClient, container: Container
) -> None:
    sink, target = await _customer_with_events(container)
    notice = customer_event(ERASED, str(uuid.uuid4()), bytes.fromhex(target), None).payload
    await sink.write([CanonicalEvent.from_dict(notice)])
    assert holding(container.owner_url, target) == {
        "recent": 0,
        "base_c.events": 0,
        "base_c.activity": 0,
    }
