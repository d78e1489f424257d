"""Bus health on the overview (in-process, real PostgreSQL; real nats-server for the outbox):
dead letters per consumer group, and the NATS outbox backlog with its warning age."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable

import httpx
import psycopg
import pytest

from caudal.platform.bootstrap import Container
from caudal.platform.bus.model import Message
from caudal.platform.settings import Settings
from tests.integration.web.conftest import snapshot_of
from tests.support.nats import NatsServer, nats_server

__all__ = ["nats_server"]

SignIn = Callable[..., Awaitable[httpx.Response]]
OUTBOX_LINE = re.compile(r'<p id="outbox-line"([^>]*)>(.*?)</p>', re.S)


def outbox_line(html: str) -> tuple[str, str]:
    """The outbox line's attributes and its text."""
    match = OUTBOX_LINE.search(html)
    assert match, "no outbox line on the overview"
    return match.group(1), match.group(2)


def owner_sql(url: str, query: str, *params: object) -> None:
    """Write as the database owner, not through our own code."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query, params)  # type: ignore[arg-type]


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """On the NATS bus (a private nats-server) for the tests marked `nats_bus`."""
    if request.node.get_closest_marker("nats_bus"):
        server: NatsServer = request.getfixturevalue("nats_server")
        settings.bus.backend = "nats"
        settings.bus.nats_url = server.url
        settings.bus.nats_namespace = f"w{uuid.uuid4().hex[:10]}"
    settings.web.outbox_warn_seconds = 120
    settings.web.stream_max_seconds = 1.0
    settings.web.stream_interval_seconds = 0.3
    return settings


async def test_dead_letters_per_group_and_no_outbox_line_on_the_postgres_bus(
    database_url: str, client: httpx.AsyncClient, signed_in: SignIn
) -> None:
    owner_sql(
        database_url,
        "INSERT INTO bus.groups (group_name, topics, partitions)"
        " VALUES ('ops-ui-dlq', '{ops-ui-topic}', 4)",
    )
    for seq in (1, 2):
        owner_sql(
            database_url,
            "INSERT INTO bus.dead_letters (group_name, seq, xid, topic, key, partition,"
            " message_id, payload, headers, published_at, attempts, last_error)"
            " VALUES ('ops-ui-dlq', %s, '1', 'ops-ui-topic', 'k', 0, %s, '{}', '{}', now(),"
            " 8, 'ValueError')",
            seq,
            str(uuid.uuid4()),
        )
    await signed_in()
    page = await client.get("/")
    assert (
        '<tr><td data-label="Group">ops-ui-dlq</td><td class="num" data-label="Lag (messages)">0'
        '</td><td class="num" data-label="Dead letters">2</td></tr>'
    ) in page.text
    attributes, text = outbox_line(page.text)
    assert "hidden" in attributes and text == ""  # PostgreSQL: no outbox to show
    assert snapshot_of(page.text)["outbox"] == {"state": "ok", "value": None, "message": ""}


async def commit(container: Container, n: int) -> None:
    """`n` messages committed through the outbox; no relay runs in this app (no worker)."""
    async with container.database.connection() as conn, conn.transaction():
        await container.bus.publish(
            [Message("ops-ui", f"k{i}", {"i": i}) for i in range(n)], conn=conn
        )


@pytest.mark.nats_bus
async def test_the_outbox_backlog_shows_on_nats_and_warns_past_its_age(
    database_url: str, container: Container, client: httpx.AsyncClient, signed_in: SignIn
) -> None:
    await signed_in()
    attributes, text = outbox_line((await client.get("/")).text)
    assert 'data-state="ok"' in attributes and "hidden" not in attributes
    assert text == "Outbox: empty (every committed message is in JetStream)."

    await commit(container, 3)
    page = (await client.get("/")).text
    attributes, text = outbox_line(page)
    assert 'data-state="ok"' in attributes
    assert text == "Outbox: 3 committed message(s) waiting for the relay (oldest 0 s)."
    outbox = snapshot_of(page)["outbox"]
    assert isinstance(outbox, dict) and outbox["state"] == "ok"
    assert outbox["value"]["messages"] == 3 and outbox["value"]["warning"] is False
    assert outbox["value"]["warn_after_seconds"] == 120

    owner_sql(database_url, "UPDATE bus.outbox SET published_at = now() - interval '5 minutes'")
    attributes, text = outbox_line((await client.get("/")).text)
    assert 'data-state="warning"' in attributes and 'class="notice notice-warning"' in attributes
    assert text == (
        "Outbox: 3 committed message(s) waiting for the relay (oldest 5 min). Older than 2 min:"
        " the relay is not forwarding; check that NATS is reachable and a `caudal worker`"
        " (or `caudal up`) runs."
    )
    stream = await client.get("/ui/stream/overview")
    event = next(b for b in stream.text.split("\n\n") if b.startswith("event: overview"))
    live = json.loads(event.split("data: ", 1)[1])["outbox"]
    assert live["state"] == "ok" and live["value"]["warning"] is True
    assert live["value"]["messages"] == 3 and 299 <= live["value"]["oldest_age_seconds"] < 330


@pytest.mark.nats_bus
async def test_the_outbox_needs_monitor_read(
    container: Container, client: httpx.AsyncClient, signed_in: SignIn
) -> None:
    await commit(container, 1)
    await signed_in("events:read")
    page = (await client.get("/")).text
    attributes, text = outbox_line(page)
    outbox = snapshot_of(page)["outbox"]
    assert isinstance(outbox, dict) and outbox["state"] == "forbidden" and outbox["value"] is None
    assert "hidden" in attributes and text == ""  # the lag's notice says which scope
    assert "lacks the scope &#39;monitor:read&#39;" in page
