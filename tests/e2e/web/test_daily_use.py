"""The dashboard for daily use (issue 15), in a real Chromium against one real `caudal up`, at
1440 px and 375 px: chart ranges, axes and tooltips; click-through to a live, two-way paged,
exportable explorer; a 130-entry statement read to its end with its CSV; mobile cards; a running
pipeline followed until it ends; discarding a quarantined event, and revealing one's payload."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
from playwright.sync_api import BrowserContext, Locator, Page

from caudal.demo.traffic import offset_timestamp
from tests.e2e.conftest import Server
from tests.e2e.web.conftest import screenshot, sign_in, wait_for

Contexts = Callable[..., BrowserContext]
WIDE, NARROW = 1440, 375


def clicks(kind: str, n: int, device: str = "dailyusedevice001", platform: str = "iOS") -> Any:
    now = datetime.now(UTC)
    return {
        "device": {"platform": platform, "deviceId": device},
        "data": [{"timestamp": offset_timestamp(now), "event_id": kind} for _ in range(n)],
    }


def stored(api: httpx.Client, kind: str, n: int) -> None:
    wait_for(
        lambda: (
            len(api.get("/v1/monitor/events", params={"type": kind, "limit": 500}).json()["items"])
            == n
        ),
        f"{n} {kind} events in the realtime store",
    )


def page_at(new_context: Contexts, server: Server, token: str, path: str, width: int) -> Page:
    page = new_context(width=width, height=900).new_page()
    sign_in(page, server.base_url, token, path)
    return page


def on_screen(page: Page, locator: Locator, width: int) -> None:
    """Visible without sideways scrolling: inside the viewport's width, page not wider."""
    assert locator.is_visible()
    box = locator.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def texts(page: Page, selector: str) -> list[str]:
    return [t for t in page.locator(selector).all_text_contents() if t.strip()]


def test_a_130_entry_day_reads_to_its_end_with_descriptions_and_csv(
    server: Server, admin_token: str, api: httpx.Client, new_context: Contexts
) -> None:
    today = datetime.now(UTC).date().isoformat()
    impacts = [
        {
            "tracekey": str(uuid.uuid4()),
            "branch": "0888",
            "account": "130130",
            "amount": "1.00",
            "debitcredit": "C",
            "eventcode": 1,
            "description": f"sale {i:03d}",
            "dateref": today,
        }
        for i in range(130)
    ]
    assert api.post("/v1/ledger/impacts", json=impacts).status_code == 202
    wait_for(
        lambda: (
            api.get("/v1/ledger/accounts/0888/130130/balance").json().get("balance") == "130.00"
        ),
        "130 impacts posted",
    )
    path = f"/ledger?branch=0888&account=130130&from={today}&to={today}"
    page = page_at(new_context, server, admin_token, path, WIDE)
    rows = page.locator("table.statement tbody tr")
    assert rows.count() == 130
    assert rows.last.locator("td[data-label=Balance]").inner_text() == "130.00"
    assert "narrow the period" not in page.inner_text("main")
    assert rows.first.locator("td.event-code").inner_text() == "1 Cash sale"
    screenshot(page, "ledger-statement-130-1440px")

    with page.expect_download() as started:
        page.click("#statement-csv")
    lines = Path(started.value.path()).read_text("utf-8").splitlines()
    day = today.replace("-", "")
    assert started.value.suggested_filename == f"statement-0888-130130-{day}-{day}.csv"
    assert lines[0].split(",")[:3] == ["dateref", "eventcode", "eventdescription"]
    assert len(lines) == 131
    assert lines[-1].split(",")[2:7] == ["Cash sale", "sale 129", "C", "1.00", "130.00"]

    narrow = page_at(new_context, server, admin_token, path, NARROW)
    first = narrow.locator("table.statement tbody tr").first
    for label in ("Event", "Amount", "Balance"):
        on_screen(narrow, first.locator(f"td[data-label={label}]"), NARROW)
    screenshot(narrow, "ledger-statement-130-375px")


def test_overview_ranges_axes_tooltips_partial_bucket_and_click_through(
    server: Server, admin_token: str, api: httpx.Client, new_context: Contexts
) -> None:
    assert api.post("/v1/events/frontend", json=clicks("click_daily_a", 5)).status_code == 202
    assert api.post("/v1/events/frontend", json=clicks("click_daily_b", 3)).status_code == 202
    stored(api, "click_daily_a", 5)
    page = page_at(new_context, server, admin_token, "/?range=15m", WIDE)
    page.wait_for_selector('#chart-type .legend li[data-name="click_daily_a"][data-total="5"]')
    chart = page.locator("#chart-type")
    assert chart.locator("text.unit").first.text_content() == "events / 1 min"
    assert len(texts(page, "#chart-type text.y-tick")) >= 4
    x_labels = texts(page, "#chart-type text.x-tick")
    assert len(x_labels) >= 4 and all(re.fullmatch(r"\d\d:\d\d", t) for t in x_labels)
    assert chart.locator("rect.slot").count() == 15
    assert chart.locator("rect.partial").count() == 1  # the unfinished minute, hatched
    assert chart.locator("polyline.partial-line").count() >= 1  # reached by a dashed line
    # The buckets span the whole range: the first starts at the left axis, the last ends right.
    width = float(page.evaluate("document.querySelector('#chart-type svg').viewBox.baseVal.width"))
    xs = [
        float(x)
        for x in chart.locator("rect.slot").evaluate_all(
            "rs => rs.map(r => r.x.baseVal.value + r.width.baseVal.value)"
        )
    ]
    assert xs[0] < 0.15 * width and xs[-1] > 0.95 * width
    slot = chart.locator("rect.slot", has=page.locator("title", has_text="click_daily_a: 5 events"))
    slot.hover()
    tip = chart.locator(".tip")
    assert tip.is_visible() and "click_daily_a: 5 events" in tip.inner_text()
    assert re.search(r"\d\d:\d\d–\d\d:\d\d UTC", tip.inner_text())
    screenshot(page, "overview-15m-tooltip-1440px")

    page.click("a[data-range='24h']")
    page.wait_for_url("**/?range=24h")
    page.wait_for_selector('#chart-type .legend li[data-name="click_daily_a"][data-total="5"]')
    assert chart.locator("text.unit").first.text_content() == "events / 10 min"
    assert chart.locator("rect.slot").count() == 144
    page.click("a[data-range='7d']")
    page.wait_for_url("**/?range=7d")
    page.wait_for_selector('#chart-type .legend li[data-name="click_daily_a"][data-total="5"]')
    assert chart.locator("text.unit").first.text_content() == "events / 1 h"
    assert chart.locator("rect.slot").count() == 168
    days = texts(page, "#chart-type text.x-tick")
    assert len([t for t in days if re.fullmatch(r"\d\d-\d\d", t)]) >= 4  # midnights: dates
    assert page.get_attribute("a[data-range='7d']", "aria-current") == "true"
    screenshot(page, "overview-7d-1440px")

    page.click('#chart-source .legend li[data-name="frontend"] a')
    page.wait_for_url("**/events?source=frontend")
    assert page.input_value("#f-source") == "frontend"
    sources = page.locator("tr.event-row td[data-label=Source]").all_inner_texts()
    assert sources and set(sources) == {"frontend"}
    page.go_back()
    page.click('#type-totals tr[data-type="click_daily_b"] a')
    page.wait_for_url("**/events?type=click_daily_b")
    assert page.locator('tr.event-row[data-type="click_daily_b"]').count() == 3

    narrow = page_at(new_context, server, admin_token, "/?range=15m", NARROW)
    narrow.wait_for_selector('#chart-type .legend li[data-name="click_daily_a"]')
    assert len(texts(narrow, "#chart-type text.x-tick")) >= 4
    assert len(texts(narrow, "#chart-type text.y-tick")) >= 4
    assert narrow.evaluate("document.documentElement.scrollWidth") <= NARROW
    screenshot(narrow, "overview-15m-375px")


def test_explorer_pages_both_ways_goes_live_and_exports(
    server: Server, admin_token: str, api: httpx.Client, new_context: Contexts
) -> None:
    assert api.post("/v1/events/frontend", json=clicks("click_daily_page", 60)).status_code == 202
    stored(api, "click_daily_page", 60)
    page = page_at(new_context, server, admin_token, "/events?type=click_daily_page", WIDE)
    assert page.inner_text("th[aria-sort=descending]").lower() == "received"
    rows = page.locator("tr.event-row")
    assert rows.count() == 50
    received = rows.locator("td[data-label=Received]").all_inner_texts()
    assert received == sorted(received, reverse=True)
    newest_ids = rows.evaluate_all("rs => rs.map(r => r.dataset.id)")
    assert page.locator("#newer-page").count() == 0
    page.click("#older-page")
    page.wait_for_url("**cursor=*")
    assert rows.count() == 10 and page.locator("#older-page").count() == 0
    page.click("#newer-page")
    page.wait_for_url("**after=*")
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.id)") == newest_ids
    assert page.locator("#newer-page").count() == 0

    page.goto(server.base_url + "/events?type=click_daily_page")
    with page.expect_download() as csv_download:
        page.click("#export-csv")
    lines = Path(csv_download.value.path()).read_text("utf-8").splitlines()
    assert lines[0].split(",")[:4] == ["received_at", "occurred_at", "source", "type"]
    assert len(lines) == 61 and all(",click_daily_page," in line for line in lines[1:])
    with page.expect_download() as parquet_download:
        page.click("#export-parquet")
    assert parquet_download.value.suggested_filename == "events.parquet"
    table = pq.read_table(io.BytesIO(Path(parquet_download.value.path()).read_bytes()))
    assert (
        table.num_rows == 60
        and str(table.schema.field("received_at").type) == "timestamp[us, tz=UTC]"
    )

    page.goto(server.base_url + "/events?type=click_daily_live")
    assert page.locator("#explorer-empty").is_visible()
    page.evaluate("window.__noReload = true")
    assert api.post("/v1/events/frontend", json=clicks("click_daily_live", 2)).status_code == 202
    page.wait_for_selector("tr.event-row:nth-child(2)", timeout=20_000)
    assert rows.count() == 2 and page.evaluate("window.__noReload") is True
    assert page.get_attribute("#explorer-live", "data-state") == "live"
    screenshot(page, "explorer-live-1440px")

    narrow = page_at(new_context, server, admin_token, "/events?type=click_daily_page", NARROW)
    first = narrow.locator("tr.event-row").first
    for label in ("Received", "Type", "Source"):
        on_screen(narrow, first.locator(f"td[data-label={label}]"), NARROW)
    screenshot(narrow, "explorer-375px")


def test_a_running_pipeline_refreshes_itself_until_it_ends(
    server: Server,
    admin_token: str,
    api: httpx.Client,
    new_context: Contexts,
    fakestore_process: tuple[subprocess.Popen[bytes], str],
) -> None:
    store, _ = fakestore_process
    page = page_at(new_context, server, admin_token, "/pipelines", WIDE)
    store.send_signal(signal.SIGSTOP)  # the run waits on FakeStore: it stays "running"
    try:
        page.click("button:has-text('Run user-carts now')")
        page.wait_for_url("**/pipelines?started=1")
        running = page.locator("tr.run-row[data-run-status=running]").first
        run_id = running.get_attribute("data-run-id")
        page.wait_for_function(
            "() => /\\d+ s \\(running\\)/.test(document.querySelector("
            "'tr.run-row[data-run-status=running] .duration').textContent)"
        )
        assert "No pipeline" not in page.inner_text("main")
        screenshot(page, "pipelines-running-1440px")
    finally:
        store.send_signal(signal.SIGCONT)
    done = page.locator(f'tr.run-row[data-run-id="{run_id}"][data-run-status=succeeded]')
    done.wait_for(timeout=60_000)  # the page reloaded itself: nobody pressed reload
    assert re.fullmatch(r"\d+\.\d s", done.locator(".duration").inner_text())
    run = api.get(f"/v1/pipelines/runs/{run_id}").json()
    assert done.locator("td[data-label=Source]").inner_text() == run["source"]
    assert done.locator("a.out-csv").count() == 1
    with page.expect_download() as parquet_download:
        done.locator("a.out-parquet").click()
    table = pq.read_table(io.BytesIO(Path(parquet_download.value.path()).read_bytes()))
    assert table.num_rows == run["rows"] > 0
    screenshot(page, "pipelines-done-1440px")

    narrow = page_at(new_context, server, admin_token, "/pipelines", NARROW)
    row = narrow.locator(f'tr.run-row[data-run-id="{run_id}"]')
    for label in ("Status", "Duration", "Outputs"):
        on_screen(narrow, row.locator(f"td[data-label={label}]"), NARROW)
    screenshot(narrow, "pipelines-375px")


def test_discard_a_quarantined_event_that_can_never_pass(
    server: Server, admin_token: str, api: httpx.Client, new_context: Contexts
) -> None:
    for n in range(2):
        event = {
            "eventType": "daily-retired-producer",
            "eventDateTime": offset_timestamp(datetime.now(UTC)),
            "version": "1.0",
            "data": {"n": n},
        }
        assert api.post("/v1/events/backend", json=event).status_code in (202, 422)
    path = "/quarantine?type=daily-retired-producer"
    page = page_at(new_context, server, admin_token, path, WIDE)
    held = page.locator("tr.quarantine-row")
    assert held.count() == 2
    victim = held.first.get_attribute("data-id")
    forged = page.request.post(
        f"{server.base_url}/quarantine/{victim}/discard", form={"csrf": "forged"}
    )
    assert forged.status == 403  # the CSRF gate: nothing discarded
    page.reload()
    assert held.count() == 2
    screenshot(page, "quarantine-before-discard-1440px")

    page.locator(f'tr.quarantine-row[data-id="{victim}"] button.discard').click()
    page.wait_for_url("**/quarantine?discarded=1")
    assert "Discarded one quarantined event" in page.inner_text("#discard-result")
    page.goto(server.base_url + path)
    assert held.count() == 1 and held.first.get_attribute("data-id") != victim
    listed = api.get("/v1/quarantine", params={"type": "daily-retired-producer", "status": "all"})
    assert [e["id"] for e in listed.json()["items"]] != [victim] and len(
        listed.json()["items"]
    ) == 1
    again = api.delete(f"/v1/quarantine/{victim}")
    assert again.status_code == 404 and again.json()["code"] == "CAU-EVT-QUARANTINE-NOT-FOUND"
    audit = wait_for(
        lambda: [line for line in server.lines if "quarantine_discarded" in line],
        "the discard in the audit log",
        timeout=5,
    )
    assert victim in audit[0] and "admin" in audit[0] and '"n": 0' not in audit[0]

    narrow = page_at(new_context, server, admin_token, path, NARROW)
    row = narrow.locator("tr.quarantine-row").first
    for label in ("Type", "Status", "Action"):
        on_screen(narrow, row.locator(f"td[data-label={label}]"), NARROW)
    screenshot(narrow, "quarantine-375px")


def test_reveal_a_quarantined_payload_with_its_cpf_redacted(
    server: Server, admin_token: str, api: httpx.Client, new_context: Contexts
) -> None:
    cpf = "529.982.247-25"
    event = {
        "eventType": "daily-cpf-in-the-wrong-place",
        "eventDateTime": offset_timestamp(datetime.now(UTC)),
        "version": "1.0",
        "data": {"cpf": cpf, "points": 3},
    }
    posted = api.post("/v1/events/backend", json=event)
    assert posted.status_code == 422, posted.text
    entry = posted.json()["rejected"][0]["quarantine_id"]
    page = page_at(new_context, server, admin_token, "/quarantine?type=" + event["eventType"], WIDE)
    row = page.locator(f'tr.quarantine-row[data-id="{entry}"]')
    assert row.count() == 1 and cpf not in page.content()

    row.locator("button.reveal").click()
    shown = json.loads(page.inner_text("#revealed-payload"))
    assert shown["data"] == {"cpf": "[redacted]", "points": 3}
    assert shown["eventType"] == "daily-cpf-in-the-wrong-place"
    assert page.locator("tr.quarantine-row.revealed").get_attribute("data-id") == entry
    assert page.input_value("#q-type") == "daily-cpf-in-the-wrong-place"  # the filter stayed
    assert cpf not in page.content() and "52998224725" not in page.content()
    screenshot(page, "quarantine-revealed-1440px")
    page.set_viewport_size({"width": NARROW, "height": 900})
    on_screen(page, page.locator("#revealed-payload"), NARROW)  # scrolls inside, not the page
    on_screen(page, row.locator("button.reveal"), NARROW)
    screenshot(page, "quarantine-revealed-375px")
    audit = wait_for(
        lambda: [line for line in server.lines if "quarantine_revealed" in line],
        "the reveal in the audit log",
        timeout=5,
    )
    record = json.loads(audit[0])
    assert (record["event"], record["entry"], record["subject"]) == (
        "quarantine_revealed",
        entry,
        "admin",
    )
    assert cpf not in audit[0]
    form_posts = wait_for(
        lambda: [
            line for line in server.lines if '"route": "/quarantine/{entry_id}/reveal"' in line
        ],
        "the reveal form's request line",
        timeout=5,
    )
    # the audit record carries the page request's trace key (the dashboard passes it to the API)
    assert record["trace_key"] == json.loads(form_posts[-1])["trace_key"]
