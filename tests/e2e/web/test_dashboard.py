"""The dashboard in a real headless Chromium against a real `caudal up` (issue 7)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import BrowserContext

from caudal.demo.traffic import cpf, offset_timestamp
from tests.e2e.conftest import Server
from tests.e2e.web.conftest import mint, screenshot, sign_in, wait_for

Contexts = Callable[..., BrowserContext]


def frontend(platform: str, device: str, event_id: str, n: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "device": {"platform": platform, "deviceId": device},
        "data": [{"timestamp": offset_timestamp(now), "event_id": event_id} for _ in range(n)],
    }


def test_no_page_or_data_without_a_session_then_sign_in_and_out(
    server: Server, admin_token: str, new_context: Contexts
) -> None:
    base = server.base_url
    context = new_context()
    page = context.new_page()
    page.goto(base + "/ledger")
    assert page.url == base + "/login?next=%2Fledger"
    assert page.evaluate("fetch('/ui/stream/overview').then(r => r.status)") == 401
    anonymous = httpx.get(base + "/ui/stream/overview", headers={"Accept": "text/event-stream"})
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "CAU-WEB-NO-SESSION"

    page.fill("#token", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged")
    page.click("button[type=submit]")
    assert "That token was refused" in page.inner_text("#login-error")
    screenshot(page, "login-refused")

    page.fill("#token", admin_token)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the submit button, reached from the keyboard
    page.wait_for_url(base + "/ledger")
    assert page.inner_text("h1") == "Ledger"
    page.keyboard.press("Tab")  # the first stop on every page is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    session = next(c for c in context.cookies() if c["name"] == "caudal_session")
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    assert "caudal_session" not in page.evaluate("document.cookie")  # out of reach of scripts
    assert page.evaluate("fetch('/ui/stream/overview').then(r => r.status)") == 200

    page.click("button:has-text('Sign out')")
    page.wait_for_url(base + "/login?signed_out=1")
    page.goto(base + "/")
    assert page.url == base + "/login?next=%2F"


def test_live_chart_updates_after_events_are_posted(
    server: Server, admin_token: str, api: httpx.Client, new_context: Contexts
) -> None:
    page = new_context().new_page()
    sign_in(page, server.base_url, admin_token)
    page.wait_for_selector("#live-status[data-state=live]")
    page.evaluate("window.__noReload = true")
    screenshot(page, "overview-before")

    accepted = api.post(
        "/v1/events/frontend", json=frontend("Android", "e2elivechartdev01", "click_e2e_live", 7)
    )
    assert accepted.status_code == 202, accepted.text

    page.wait_for_function(
        """() => {
            const item = document.querySelector(
                '#chart-type .legend li[data-name="click_e2e_live"]');
            return item !== null && item.dataset.total === "7";
        }""",
        timeout=30_000,
    )
    assert page.evaluate("window.__noReload") is True  # updated in place, never reloaded
    assert page.inner_text('#type-totals tr[data-type="click_e2e_live"] td.num') == "7"
    line = page.locator('#chart-type polyline[data-name="click_e2e_live"]')
    assert line.get_attribute("data-total") == "7"
    frontend_total = page.get_attribute(
        '#chart-source .legend li[data-name="frontend"]', "data-total"
    )
    assert frontend_total is not None and int(frontend_total) >= 7
    assert int(page.inner_text('[data-metric="events_last_hour"]')) >= 7
    screenshot(page, "overview-live")

    narrow = new_context(width=375, height=800).new_page()
    sign_in(narrow, server.base_url, admin_token)
    narrow.wait_for_selector("#live-status[data-state=live]")
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scroll
    screenshot(narrow, "overview-375px")


def test_events_explorer_filters_by_platform_device_type_and_time(
    server: Server, admin_token: str, api: httpx.Client, new_context: Contexts
) -> None:
    for body in (
        frontend("iOS", "e2eiosdevice00001", "click_e2e_ios", 3),
        frontend("Android", "e2eandroiddev0001", "click_e2e_android", 2),
    ):
        assert api.post("/v1/events/frontend", json=body).status_code == 202
    wait_for(
        lambda: (
            len(api.get("/v1/monitor/events", params={"type": "click_e2e_android"}).json()["items"])
            == 2
        ),
        "the events in the realtime store",
    )
    page = new_context().new_page()
    sign_in(page, server.base_url, admin_token, "/events")

    page.select_option("#f-platform", "iOS")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**/events?*platform=iOS*")
    rows = page.locator("tr.event-row")
    platforms = rows.locator("td:nth-child(4)").all_inner_texts()
    assert platforms and set(platforms) == {"iOS"}
    assert page.locator('tr.event-row[data-type="click_e2e_ios"]').count() == 3
    assert page.locator('tr.event-row[data-type="click_e2e_android"]').count() == 0

    page.select_option("#f-platform", "")
    page.fill("#f-device", "e2eandroiddev0001")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**device=e2eandroiddev0001*")
    assert page.locator("tr.event-row").count() == 2
    assert set(page.locator("tr.event-row").evaluate_all("rs => rs.map(r => r.dataset.type)")) == {
        "click_e2e_android"
    }
    page.locator("tr.event-row summary").first.click()
    opened = page.locator("tr.event-row details[open] pre").first.inner_text()
    assert '"device_id": "e2eandroiddev0001"' in opened
    assert '"platform": "Android"' in opened
    screenshot(page, "events-filtered")

    page.fill("#f-type", "click_e2e_android")
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    page.fill("#f-from", later)
    page.click("button:has-text('Filter')")
    page.wait_for_url("**from=*")
    assert page.locator("tr.event-row").count() == 0
    assert "No event matches these filters" in page.inner_text("main")


def test_replay_a_quarantined_event_after_registering_its_schema(
    server: Server, admin_token: str, api: httpx.Client, new_context: Contexts
) -> None:
    event = {
        "eventType": "loyalty-points-earned",
        "eventDateTime": offset_timestamp(datetime.now(UTC)),
        "version": "1.0",
        "data": {"points": 120, "program": "e2e"},
    }
    posted = api.post("/v1/events/backend", json=event)
    assert posted.status_code in (202, 422), posted.text
    page = new_context().new_page()
    sign_in(page, server.base_url, admin_token, "/quarantine?type=loyalty-points-earned")
    held = page.locator('tr.quarantine-row[data-type="loyalty-points-earned"]')
    assert held.count() == 1
    assert "unknown_type" in held.inner_text()
    screenshot(page, "quarantine-held")

    schema = {
        "type": "loyalty-points-earned",
        "version": "1.0",
        "source": "backend",
        "description": "points earned in the loyalty programme",
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {"points": {"type": "integer"}, "program": {"type": "string"}},
            "required": ["points"],
        },
    }
    registered = api.post("/v1/schemas", json=schema)
    assert registered.status_code == 201, registered.text

    page.click("button:has-text('Replay')")
    page.wait_for_url("**/quarantine?replayed=*")
    assert page.inner_text("#replay-result").startswith("Replayed 1 event(s)")
    page.goto(server.base_url + "/quarantine?type=loyalty-points-earned")
    assert page.locator("tr.quarantine-row").count() == 0  # nothing held any more
    page.goto(server.base_url + "/quarantine?type=loyalty-points-earned&status=replayed")
    assert "replayed" in page.locator("tr.quarantine-row").inner_text()
    screenshot(page, "quarantine-replayed")
    wait_for(
        lambda: api.get("/v1/monitor/events", params={"type": "loyalty-points-earned"}).json()[
            "items"
        ],
        "the replayed event in the realtime store",
    )


def test_customer_lookup_masks_pii_without_the_pii_scope(
    server: Server, web_home: Path, admin_token: str, api: httpx.Client, new_context: Contexts
) -> None:
    person = cpf(random.Random(20261122))
    formatted = f"{person[:3]}.{person[3:6]}.{person[6:9]}-{person[9:]}"
    created = api.post(
        "/clientes",
        json={
            "nome": "Mariana Teixeira Duarte",
            "cpf": person,
            "data_nascimento": "1988-04-12",
            "sexo": "F",
            "estado_civil": "casada",
            "endereco": {
                "uf": "SP",
                "cidade": "São Paulo",
                "bairro": "Pinheiros",
                "longadouro": "Rua dos Pinheiros",
                "numero": 870,
                "complemento": "apto 12",
            },
            "dividas": [{"empresa": "Loja Rede", "valor": "1250.40", "vencimento": "2027-01-10"}],
        },
    )
    assert created.status_code == 201, created.text
    purchase = {
        "eventType": "card-purchase",
        "eventDateTime": offset_timestamp(datetime.now(UTC)),
        "version": "1.0",
        "data": {
            "cpf": person,
            "data_compra": datetime.now(UTC).date().isoformat(),
            "valor": "349.90",
            "bandeira_cartao": "Visa",
            "produto": "Cafeteira",
            "tipo": "casa",
            "codigo_transacao": "E2E0001",
        },
    }
    assert api.post("/v1/events/backend", json=purchase).status_code == 202
    wait_for(
        lambda: api.get(f"/clientes/{person}/consultar").status_code == 200,
        "Base C activity for the CPF",
    )

    full = new_context().new_page()
    sign_in(full, server.base_url, admin_token, "/customers")
    full.fill("#cpf", formatted)
    full.keyboard.press("Enter")
    full.wait_for_selector("#customer-record")
    assert person not in full.url  # the CPF travels in the form body, never in the URL
    record = full.inner_text("#customer-record")
    assert "Mariana Teixeira Duarte" in record and formatted in record
    assert "Rua dos Pinheiros" in record
    assert full.locator("#pii-masked").count() == 0
    assert 0 <= int(full.inner_text("#score-value")) <= 1000
    assert "Cafeteira" in full.inner_text("main")
    screenshot(full, "customer-unmasked")

    analyst = mint(web_home, "customers:score", "customers:activity", subject="analyst")
    masked_context = new_context(width=375, height=800)
    masked = masked_context.new_page()
    sign_in(masked, server.base_url, analyst, "/customers")
    masked.fill("#cpf", person)
    masked.click("button:has-text('Look up')")
    masked.wait_for_selector("#customer-record")
    assert masked.locator("#pii-masked").is_visible()
    record = masked.inner_text("#customer-record")
    assert f"***.{person[3:6]}.{person[6:9]}-**" in record
    assert formatted not in masked.content() and person not in record
    assert "Teixeira" not in record and "Rua dos Pinheiros" not in record
    assert 0 <= int(masked.inner_text("#score-value")) <= 1000
    assert "Cafeteira" in masked.inner_text("main")
    assert masked.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(masked, "customer-masked-375px")


def test_pipeline_run_started_from_the_page_and_its_csv_downloaded(
    server: Server, admin_token: str, api: httpx.Client, new_context: Contexts
) -> None:
    page = new_context().new_page()
    sign_in(page, server.base_url, admin_token, "/pipelines")
    page.click("button:has-text('Run user-carts now')")
    page.wait_for_url("**/pipelines?started=1")
    run_id = api.get("/v1/pipelines/runs", params={"limit": 1}).json()["runs"][0]["id"]
    run = wait_for(
        lambda: (r := api.get(f"/v1/pipelines/runs/{run_id}").json())["status"] != "running" and r,
        "the pipeline run to finish",
        timeout=90,
    )
    assert run["status"] == "succeeded", run
    assert run["requested_by"] == "admin"  # started as the signed-in user
    page.goto(server.base_url + "/pipelines")
    link = page.locator(f'a[href="/pipelines/runs/{run_id}/csv"]')
    assert "succeeded" in page.locator("tr", has=link).inner_text()
    screenshot(page, "pipelines")
    with page.expect_download() as started_download:
        link.click()
    download = started_download.value
    assert download.suggested_filename == f"user-carts-{run['run_date']}.csv"
    lines = Path(download.path()).read_text("utf-8").splitlines()
    assert lines[0].split(",")[:3] == ["user_id", "last_cart_date", "top_category"]
    assert len(lines) - 1 == run["rows"] > 0


def test_ledger_balance_statement_and_consolidated_day(
    server: Server, admin_token: str, api: httpx.Client, new_context: Contexts
) -> None:
    today = datetime.now(UTC).date().isoformat()
    impacts = [
        {
            "tracekey": str(uuid.uuid4()),
            "branch": "0777",
            "account": "123456",
            "amount": amount,
            "debitcredit": side,
            "eventcode": code,
            "description": description,
            "dateref": today,
        }
        for amount, side, code, description in (
            ("8.00", "C", 1, "venda à vista"),
            ("1.00", "C", 2, "venda no cartão"),
            ("10.50", "D", 3, "fornecedor"),
        )
    ]
    accepted = api.post("/v1/ledger/impacts", json=impacts)
    assert accepted.status_code == 202, accepted.text
    wait_for(
        lambda: all(
            api.get(f"/v1/ledger/impacts/{i['tracekey']}").json().get("status") == "posted"
            for i in impacts
        ),
        "the impacts to be posted",
    )
    page = new_context().new_page()
    sign_in(page, server.base_url, admin_token, "/ledger")
    page.fill("#l-branch", "0777")
    page.fill("#l-account", "123456")
    page.click("button:has-text('Show account')")
    page.wait_for_selector("#balance-value")
    assert page.inner_text("#balance-value") == "-1.50"
    rows = page.locator("table.statement tbody tr")
    assert rows.count() == 3
    assert rows.locator("td:last-child").all_inner_texts() == ["8.00", "9.00", "-1.50"]
    screenshot(page, "ledger-account")
    page.fill("#l-day", today)
    page.click("button:has-text('Show day')")
    row = page.locator("table.consolidated tr", has_text="123456")
    assert row.locator("td.num").all_inner_texts() == ["9.00", "10.50", "-1.50"]
