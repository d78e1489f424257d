"""Pages and the live stream as a signed-in browser sees them (in-process, real PostgreSQL)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest

from caudal.platform.settings import Settings

SignIn = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.web.stream_max_seconds = 1.0
    settings.web.stream_interval_seconds = 0.3
    return settings


async def test_every_page_renders_with_navigation_and_a_skip_link(
    client: httpx.AsyncClient, signed_in: SignIn
) -> None:
    await signed_in()
    for path, heading in [
        ("/", "Overview"),
        ("/events", "Events explorer"),
        ("/quarantine", "Quarantine and dead letters"),
        ("/customers", "Customer lookup"),
        ("/ledger", "Ledger"),
        ("/pipelines", "Pipelines"),
    ]:
        page = await client.get(path)
        assert page.status_code == 200, path
        assert f"<h1>{heading}</h1>" in page.text, path
        assert 'href="#main"' in page.text and 'id="main"' in page.text
        assert 'aria-current="page"' in page.text
        assert "<script>" not in page.text  # no inline script: the CSP forbids it


async def test_a_section_the_session_may_not_see_says_which_scope_it_needs(
    client: httpx.AsyncClient, signed_in: SignIn
) -> None:
    await signed_in("ledger:read")
    page = await client.get("/events")
    assert page.status_code == 200
    assert "lacks the scope &#39;monitor:read&#39;" in page.text
    quarantine = await client.get("/quarantine")
    assert "Replaying needs the scope <code>events:write</code>" in quarantine.text
    assert 'action="/quarantine/replay"' not in quarantine.text


async def test_the_overview_embeds_a_snapshot_of_the_last_hour(
    client: httpx.AsyncClient, signed_in: SignIn
) -> None:
    await signed_in()
    page = await client.get("/")
    match = re.search(
        r'<script type="application/json" id="overview-data">(.*?)</script>', page.text, re.S
    )
    assert match
    snapshot = json.loads(match.group(1))
    assert len(snapshot["minutes"]) == 60
    assert {"by_source", "by_type", "quarantine", "dead_letters", "lag", "runs"} <= set(snapshot)


async def test_the_stream_sends_overview_events(
    client: httpx.AsyncClient, signed_in: SignIn
) -> None:
    await signed_in()
    response = await client.get("/ui/stream/overview", headers={"Accept": "text/event-stream"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text.startswith("retry: 1500\n\n")
    events = [block for block in response.text.split("\n\n") if block.startswith("event:")]
    assert len(events) >= 2  # one now, more every interval until the stream closes
    name, data = events[0].split("\n", 1)
    assert name == "event: overview"
    payload = json.loads(data.removeprefix("data: "))
    assert len(payload["minutes"]) == 60


async def test_replay_refuses_a_forged_form(client: httpx.AsyncClient, signed_in: SignIn) -> None:
    await signed_in()
    forged = await client.post("/quarantine/replay", data={"csrf": "x"})
    assert forged.status_code == 403
    assert "Replay refused" in forged.text
