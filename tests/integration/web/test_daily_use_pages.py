"""The daily-use dashboard's server side (in-process, real PostgreSQL): bucketed rates, two-way
paging, bounded exports, the overview's scope notices, and discarding a quarantined event."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pyarrow.parquet as pq
import pytest
from psycopg.types.json import Jsonb
from structlog.testing import capture_logs

from caudal.platform.bootstrap import Container
from caudal.web import explorer, export
from tests.integration.web.conftest import page_csrf, snapshot_of

SignIn = Callable[..., Awaitable[httpx.Response]]
Auth = Callable[..., dict[str, str]]
NOW = datetime.now(UTC).replace(microsecond=0)


async def add_events(container: Container, kind: str, n: int, source: str = "frontend") -> None:
    """`n` events received one second apart, newest now, and their per-minute counts."""
    rows = [
        (str(uuid.uuid4()), source, kind, NOW - timedelta(seconds=i), "iOS" if i % 2 else "Android")
        for i in range(n)
    ]
    async with container.database.connection() as conn:
        for id_, src, typ, at, platform in rows:
            await conn.execute(
                "INSERT INTO events.recent (id, source, type, version, occurred_at, received_at,"
                " platform, device_id, trace_key, data) VALUES (%s, %s, %s, '1', %s, %s, %s,"
                " 'dev', NULL, %s)",
                (id_, src, typ, at, at, platform, Jsonb({"i": 1})),
            )
            await conn.execute(
                "INSERT INTO events.minute_counts AS c (minute, source, type, platform, count)"
                " VALUES (date_trunc('minute', %s::timestamptz), %s, %s, %s, 1)"
                " ON CONFLICT (minute, source, type, platform) DO UPDATE SET count = c.count + 1",
                (at, src, typ, platform),
            )


async def test_rates_come_in_buckets_and_a_bad_step_is_refused(
    container: Container, client: httpx.AsyncClient, auth: Auth
) -> None:
    await add_events(container, "click_bucket", 30)
    reader = auth("monitor:read")
    hourly = await client.get(
        "/v1/monitor/rates", headers=reader, params={"since": "2h", "step": "1h"}
    )
    assert hourly.status_code == 200, hourly.text
    minutes = {row["minute"] for row in hourly.json()["series"]}
    assert all(m.endswith(":00:00Z") for m in minutes) and hourly.json()["total"] == 30
    for bad in ("30s", "90s", "2d", "soon"):
        refused = await client.get("/v1/monitor/rates", headers=reader, params={"step": bad})
        assert refused.status_code == 422, bad
        assert refused.json()["code"] == "CAU-MON-STEP"


async def test_events_page_both_ways_and_filter_by_platform(
    container: Container, client: httpx.AsyncClient, auth: Auth
) -> None:
    await add_events(container, "click_pages", 25)
    reader = auth("monitor:read")
    params: dict[str, str | int] = {"type": "click_pages", "limit": 10}
    first = (await client.get("/v1/monitor/events", headers=reader, params=params)).json()
    assert first["prev_cursor"] is None and first["next_cursor"]
    second = (
        await client.get(
            "/v1/monitor/events", headers=reader, params={**params, "cursor": first["next_cursor"]}
        )
    ).json()
    back = (
        await client.get(
            "/v1/monitor/events", headers=reader, params={**params, "after": second["prev_cursor"]}
        )
    ).json()
    assert [e["id"] for e in back["items"]] == [e["id"] for e in first["items"]]
    assert back["prev_cursor"] is None and back["next_cursor"]
    ios = (
        await client.get(
            "/v1/monitor/events", headers=reader, params={**params, "platform": "iOS", "limit": 50}
        )
    ).json()
    assert len(ios["items"]) == 12 and {e["platform"] for e in ios["items"]} == {"iOS"}


async def test_the_export_is_bounded_and_parquet_is_typed(
    container: Container,
    client: httpx.AsyncClient,
    signed_in: SignIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_events(container, "click_export", 12)
    await signed_in()
    monkeypatch.setattr(export, "PAGE_ROWS", 5)
    monkeypatch.setattr(export, "MAX_ROWS", 7)
    csv = await client.get("/events/export.csv", params={"type": "click_export"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert len(lines) == 1 + 7  # the bound, read in pages of five
    monkeypatch.setattr(export, "MAX_ROWS", 100)
    parquet = await client.get("/events/export.parquet", params={"type": "click_export"})
    assert parquet.headers["content-disposition"] == 'attachment; filename="events.parquet"'
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == 12
    assert str(table.schema.field("occurred_at").type) == "timestamp[us, tz=UTC]"
    assert json.loads(table.column("data")[0].as_py()) == {"i": 1}
    assert (await client.get("/events/export.xlsx")).status_code == 404
    monkeypatch.setattr(explorer, "LIVE_LIMIT", 5)
    since = (NOW - timedelta(seconds=3)).isoformat()
    live = (
        await client.get("/ui/events/live", params={"type": "click_export", "since": since})
    ).json()
    assert [r["type"] for r in live["rows"]] == ["click_export"] * 4 and live["more"] is False
    burst = (await client.get("/ui/events/live", params={"type": "click_export"})).json()
    assert len(burst["rows"]) == 5 and burst["more"] is True  # the page says to reload


async def test_overview_ranges_and_no_empty_table_under_a_scope_notice(
    container: Container, client: httpx.AsyncClient, signed_in: SignIn
) -> None:
    container.settings.web.stream_max_seconds = 1.0  # the in-process client reads to its end
    await add_events(container, "click_range", 3)
    await signed_in("monitor:read")
    page = await client.get("/", params={"range": "7d"})
    snapshot = snapshot_of(page.text)
    assert snapshot["range"] == "7d" and snapshot["step_seconds"] == 3600
    assert len(snapshot["minutes"]) == 168  # type: ignore[arg-type]
    assert snapshot["events_in_range"] == 3 and snapshot["events_last_hour"] == 3
    assert "lacks the scope &#39;pipelines:read&#39;" in page.text
    assert "No pipeline run yet" not in page.text
    stream = await client.get("/ui/stream/overview", params={"range": "24h"})
    event = next(b for b in stream.text.split("\n\n") if b.startswith("event: overview"))
    assert len(json.loads(event.split("data: ", 1)[1])["minutes"]) == 144


async def test_discard_needs_events_write_a_csrf_token_and_is_audited(
    container: Container,
    client: httpx.AsyncClient,
    signed_in: SignIn,
    auth: Auth,
) -> None:
    entry = uuid.uuid4()
    async with container.database.connection() as conn:
        await conn.execute(
            "INSERT INTO events.quarantine (id, received_at, source, type, reason, code, message,"
            " payload) VALUES (%s, now(), 'backend', 'retired', 'unknown_type', 'CAU-X', 'm', %s)",
            (entry, Jsonb({"cpf": "never logged"})),
        )
    path = f"/v1/quarantine/{entry}"
    assert (await client.delete(path, headers=auth("events:read"))).status_code == 403
    await signed_in()
    forged = await client.post(f"/quarantine/{entry}/discard", data={"csrf": "x"})
    assert forged.status_code == 403
    csrf = page_csrf((await client.get("/quarantine")).text)
    with capture_logs() as logs:
        done = await client.post(
            f"/quarantine/{entry}/discard",
            data={"csrf": csrf},
            headers={"Origin": "http://caudal.test"},
        )
    audit = [e for e in logs if e["event"] == "quarantine_discarded"]
    assert len(audit) == 1 and audit[0]["subject"] == "tester" and audit[0]["entry"] == str(entry)
    assert "never logged" not in repr(audit)  # the payload is not in the audit line
    assert done.status_code == 303 and done.headers["location"] == "/quarantine?discarded=1"
    again = await client.delete(path, headers=auth("events:write"))
    assert again.status_code == 404 and again.json()["code"] == "CAU-EVT-QUARANTINE-NOT-FOUND"
    bad = await client.delete("/v1/quarantine/not-a-uuid", headers=auth("events:write"))
    assert bad.status_code == 422
