"""`/v1/ledger`: every validation rule's code, idempotency, async posting through the bus,
balances, statements, the consolidated report (JSON and CSV), event codes, scopes."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from caudal.ledger import validation as v
from caudal.platform.bootstrap import Container
from tests.integration.ledger.conftest import posting_workers, today, wait_decided

PROBLEM = "application/problem+json"

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def impact(make_impact: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    return make_impact


async def test_accept_then_post_through_the_bus(
    client: httpx.AsyncClient, auth: Auth, container: Container, impact: Callable[..., Any]
) -> None:
    body = impact(amount="10.50", debitcredit="C", eventcode=1)
    r = await client.post("/v1/ledger/impacts", json=body, headers=auth("ledger:write"))
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending" and r.json()["tracekey"] == body["tracekey"]
    pending = await client.get(
        f"/v1/ledger/impacts/{body['tracekey']}", headers=auth("ledger:read")
    )
    assert pending.json()["status"] == "pending"
    async with posting_workers(container):
        await wait_decided(container, [body["tracekey"]])
    posted = (
        await client.get(f"/v1/ledger/impacts/{body['tracekey']}", headers=auth("ledger:read"))
    ).json()
    assert posted["status"] == "posted"
    uuid.UUID(posted["transaction_id"])
    # the same payload again: the same answer, no second posting
    again = await client.post("/v1/ledger/impacts", json=body, headers=auth("ledger:write"))
    assert again.status_code == 202
    assert again.json()["status"] == "posted"
    assert again.json()["transaction_id"] == posted["transaction_id"]
    # the same tracekey with another payload: 409
    other = dict(body, amount="10.51")
    clash = await client.post("/v1/ledger/impacts", json=other, headers=auth("ledger:write"))
    assert clash.status_code == 409
    assert clash.headers["content-type"] == PROBLEM
    assert clash.json()["code"] == v.TRACEKEY_CONFLICT
    balance = await client.get(
        "/v1/ledger/accounts/0001/000000001/balance", headers=auth("ledger:read")
    )
    assert balance.status_code == 200
    assert balance.json() == {
        "branch": "0001",
        "account": "000000001",
        "date": today().isoformat(),
        "totaldebit": "0.00",
        "totalcredit": "10.50",
        "acumulateddebit": "0.00",
        "acumulatedcredit": "10.50",
        "balance": "10.50",
        "last_movement_date": today().isoformat(),
    }
    # the callback went to the outbox in the posting's transaction
    async with container.database.connection() as conn:
        cur = await conn.execute(
            "SELECT payload FROM bus.messages WHERE topic = 'events' ORDER BY seq"
        )
        events = [row[0] for row in await cur.fetchall()]
    assert len(events) == 1
    assert events[0]["type"] == "ledger.posted" and events[0]["source"] == "ledger"
    assert events[0]["data"]["transaction_id"] == posted["transaction_id"]
    assert events[0]["data"]["amount"] == "10.50"
    assert events[0]["trace_key"] == body["tracekey"]


async def test_same_payload_with_another_amount_format_is_the_same_impact(
    client: httpx.AsyncClient, auth: Auth, impact: Callable[..., Any]
) -> None:
    body = impact(amount="10.5")
    first = await client.post("/v1/ledger/impacts", json=body, headers=auth("ledger:write"))
    second = await client.post(
        "/v1/ledger/impacts", json=dict(body, amount=10.50), headers=auth("ledger:write")
    )
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()


def _rule_cases() -> list[tuple[str, dict[str, Any], str, str]]:
    t = today()
    return [
        ("debitcredit X", {"debitcredit": "X"}, v.DEBITCREDIT_INVALID, "debitcredit"),
        ("debitcredit lower", {"debitcredit": "c"}, v.DEBITCREDIT_INVALID, "debitcredit"),
        ("amount zero", {"amount": "0"}, v.AMOUNT_NOT_POSITIVE, "amount"),
        ("amount negative", {"amount": -5}, v.AMOUNT_NOT_POSITIVE, "amount"),
        ("amount 3 decimals", {"amount": "1.005"}, v.AMOUNT_SCALE, "amount"),
        ("amount text", {"amount": "ten"}, v.AMOUNT_INVALID, "amount"),
        ("amount huge", {"amount": "10000000000000.00"}, v.AMOUNT_TOO_LARGE, "amount"),
        ("description 201", {"description": "x" * 201}, v.DESCRIPTION_TOO_LONG, "description"),
        ("details list", {"details": [1, 2]}, v.DETAILS_NOT_OBJECT, "details"),
        ("details text", {"details": "{}"}, v.DETAILS_NOT_OBJECT, "details"),
        ("tracekey", {"tracekey": "not-a-uuid"}, v.TRACEKEY_INVALID, "tracekey"),
        ("eventcode text", {"eventcode": "abc"}, v.EVENTCODE_INVALID, "eventcode"),
        ("event unknown", {"eventcode": 999}, v.EVENT_UNKNOWN, "eventcode"),
        ("event side", {"eventcode": 1, "debitcredit": "D"}, v.EVENT_SIDE_NOT_ALLOWED, "eventcode"),
        ("dateref text", {"dateref": "yesterday"}, v.DATEREF_INVALID, "dateref"),
        (
            "dateref future",
            {"dateref": (t + timedelta(days=1)).isoformat()},
            v.DATEREF_FUTURE,
            "dateref",
        ),
        (
            "dateref old",
            {"dateref": (t - timedelta(days=8)).isoformat()},
            v.DATEREF_TOO_OLD,
            "dateref",
        ),
        ("missing branch", {"branch": None}, v.REQUIRED, "branch"),
        ("branch slash", {"branch": "00/01"}, v.BRANCH_INVALID, "branch"),
        ("account long", {"account": "9" * 41}, v.ACCOUNT_INVALID, "account"),
        ("unknown field", {"ammount": "1"}, v.UNKNOWN_FIELD, "ammount"),
    ]


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [c[1:] for c in _rule_cases()],
    ids=[c[0] for c in _rule_cases()],
)
async def test_every_rule_has_its_code(
    client: httpx.AsyncClient,
    auth: Auth,
    impact: Callable[..., Any],
    overrides: dict[str, Any],
    code: str,
    field: str,
) -> None:
    body = {k: val for k, val in impact(**overrides).items() if val is not None}
    r = await client.post("/v1/ledger/impacts", json=body, headers=auth("ledger:write"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM
    problem = r.json()
    assert (problem["code"], problem["field"]) == (code, field)
    assert [e["code"] for e in problem["errors"]] == [code]


async def test_a_problem_lists_every_error_of_the_impact(
    client: httpx.AsyncClient, auth: Auth, impact: Callable[..., Any]
) -> None:
    old = (today() - timedelta(days=400)).isoformat()
    body = impact(amount="1.234", dateref=old, eventcode=999)
    r = await client.post("/v1/ledger/impacts", json=body, headers=auth("ledger:write"))
    assert r.status_code == 422, r.text
    problem = r.json()
    assert (problem["code"], problem["field"]) == (v.AMOUNT_SCALE, "amount")
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [
        ("amount", v.AMOUNT_SCALE),
        ("eventcode", v.EVENT_UNKNOWN),
        ("dateref", v.DATEREF_TOO_OLD),
    ]


async def test_inactive_event_code_is_refused(
    client: httpx.AsyncClient, auth: Auth, impact: Callable[..., Any]
) -> None:
    created = await client.post(
        "/v1/ledger/event-codes",
        json={"description": "Old promo", "allowdebit": False},
        headers=auth("ledger:write"),
    )
    assert created.status_code == 201
    code = created.json()["code"]
    assert created.json() == {
        "code": code,
        "active": True,
        "description": "Old promo",
        "allowdebit": False,
        "allowcredit": True,
    }
    patched = await client.patch(
        f"/v1/ledger/event-codes/{code}", json={"active": False}, headers=auth("ledger:write")
    )
    assert patched.status_code == 200 and patched.json()["active"] is False
    listed = await client.get("/v1/ledger/event-codes", headers=auth("ledger:read"))
    assert [e["code"] for e in listed.json()["items"]][:8] == list(range(1, 9))
    assert listed.json()["items"][-1]["active"] is False
    r = await client.post(
        "/v1/ledger/impacts", json=impact(eventcode=code), headers=auth("ledger:write")
    )
    assert r.status_code == 422 and r.json()["code"] == v.EVENT_INACTIVE
    missing = await client.patch(
        "/v1/ledger/event-codes/4242", json={"active": True}, headers=auth("ledger:write")
    )
    assert missing.status_code == 404 and missing.json()["code"] == "CAU-LEDGER-EVENT-NOT-FOUND"


async def test_batch_answers_a_status_per_impact(
    client: httpx.AsyncClient, auth: Auth, impact: Callable[..., Any]
) -> None:
    ok = impact()
    known = impact(amount="1")
    await client.post("/v1/ledger/impacts", json=known, headers=auth("ledger:write"))
    batch = [ok, impact(amount="-1"), dict(known, amount="2"), known, ok]
    r = await client.post("/v1/ledger/impacts", json=batch, headers=auth("ledger:write"))
    assert r.status_code == 202, r.text
    body = r.json()
    assert [x["status"] for x in body["results"]] == [
        "pending",
        "invalid",
        "conflict",
        "pending",
        "pending",
    ]
    assert body["results"][1]["code"] == v.AMOUNT_NOT_POSITIVE
    assert body["results"][2]["code"] == v.TRACEKEY_CONFLICT
    assert body["counts"] == {"pending": 3, "invalid": 1, "conflict": 1}
    assert [x["index"] for x in body["results"]] == [0, 1, 2, 3, 4]


async def test_batch_limits_and_bad_bodies(
    client: httpx.AsyncClient, auth: Auth, impact: Callable[..., Any]
) -> None:
    h = auth("ledger:write")
    empty = await client.post("/v1/ledger/impacts", json=[], headers=h)
    assert empty.status_code == 422 and empty.json()["code"] == v.BATCH_EMPTY
    big = await client.post("/v1/ledger/impacts", json=[impact() for _ in range(1001)], headers=h)
    assert big.status_code == 422 and big.json()["code"] == v.BATCH_TOO_LARGE
    scalar = await client.post("/v1/ledger/impacts", json=5, headers=h)
    assert scalar.status_code == 422 and scalar.json()["code"] == v.BODY_INVALID
    broken = await client.post(
        "/v1/ledger/impacts", content=b"{", headers={**h, "content-type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["code"] == "CAU-REQ-MALFORMED-JSON"


async def test_scopes(client: httpx.AsyncClient, auth: Auth, impact: Callable[..., Any]) -> None:
    r = await client.post("/v1/ledger/impacts", json=impact(), headers=auth("ledger:read"))
    assert r.status_code == 403 and r.json()["code"] == "CAU-AUTH-FORBIDDEN"
    r = await client.get("/v1/ledger/consolidated", headers=auth("ledger:write"))
    assert r.status_code == 403
    r = await client.get("/v1/ledger/consolidated")
    assert r.status_code == 401


async def test_unknown_impact_and_account(client: httpx.AsyncClient, auth: Auth) -> None:
    h = auth("ledger:read")
    r = await client.get(f"/v1/ledger/impacts/{uuid.uuid4()}", headers=h)
    assert r.status_code == 404 and r.json()["code"] == "CAU-LEDGER-IMPACT-NOT-FOUND"
    r = await client.get("/v1/ledger/impacts/nope", headers=h)
    assert r.status_code == 422 and r.json()["code"] == v.TRACEKEY_INVALID
    r = await client.get("/v1/ledger/accounts/1/2/balance", headers=h)
    assert r.status_code == 404 and r.json()["code"] == "CAU-LEDGER-ACCOUNT-NOT-FOUND"
    r = await client.get("/v1/ledger/accounts/1/2/balance?date=2024-13-01", headers=h)
    assert r.status_code == 422 and r.json()["code"] == "CAU-LEDGER-DATE-INVALID"


async def test_statement_and_consolidated_reports(
    client: httpx.AsyncClient, auth: Auth, container: Container, impact: Callable[..., Any]
) -> None:
    t = today()
    y = t - timedelta(days=1)
    moves = [
        impact(branch="0001", account="A1", debitcredit="C", amount="8", dateref=y.isoformat()),
        impact(branch="0001", account="A1", debitcredit="C", amount="1"),
        impact(branch="0001", account="A1", debitcredit="D", amount="1", eventcode=4),
        impact(branch="0001", account="A1", debitcredit="D", amount="10", eventcode=4),
        impact(branch="0001", account="A1", debitcredit="C", amount="14"),
        impact(branch="0002", account="B1", debitcredit="C", amount="100", dateref=y.isoformat()),
        impact(branch="0001", account="A2", debitcredit="D", amount="3.25", eventcode=6),
    ]
    r = await client.post("/v1/ledger/impacts", json=moves, headers=auth("ledger:write"))
    assert r.json()["counts"] == {"pending": 7}
    async with posting_workers(container):
        await wait_decided(container, [m["tracekey"] for m in moves])
    h = auth("ledger:read")
    pages: list[dict[str, Any]] = []
    url = f"/v1/ledger/accounts/0001/A1/statement?from={y}&to={t}&limit=2"
    while url:
        page = (await client.get(url, headers=h)).json()
        pages.append(page)
        url = (
            f"/v1/ledger/accounts/0001/A1/statement?from={y}&to={t}&limit=2"
            f"&cursor={page['next_cursor']}"
            if page["next_cursor"]
            else ""
        )
    assert [len(p["items"]) for p in pages] == [2, 2, 1]
    items = [i for p in pages for i in p["items"]]
    assert [i["balance"] for i in items] == ["8.00", "9.00", "8.00", "-2.00", "12.00"]
    assert items[0]["dateref"] == y.isoformat() and items[1]["dateref"] == t.isoformat()
    assert items[2]["eventdescription"] == "Operating expense"
    today_only = (
        await client.get(f"/v1/ledger/accounts/0001/A1/statement?from={t}&to={t}", headers=h)
    ).json()
    assert today_only["opening_balance"] == "8.00"
    assert [i["balance"] for i in today_only["items"]] == ["9.00", "8.00", "-2.00", "12.00"]
    bad = await client.get(f"/v1/ledger/accounts/0001/A1/statement?from={t}&to={y}", headers=h)
    assert bad.status_code == 422 and bad.json()["code"] == "CAU-LEDGER-RANGE-INVALID"
    bad = await client.get("/v1/ledger/accounts/0001/A1/statement?cursor=zzz", headers=h)
    assert bad.status_code == 422 and bad.json()["code"] == "CAU-LEDGER-CURSOR-INVALID"

    first = (await client.get(f"/v1/ledger/consolidated?date={t}&limit=2", headers=h)).json()
    assert [(i["branch"], i["account"]) for i in first["items"]] == [("0001", "A1"), ("0001", "A2")]
    assert first["items"][0] == {
        "branch": "0001",
        "account": "A1",
        "date": t.isoformat(),
        "totaldebit": "11.00",
        "totalcredit": "15.00",
        "acumulateddebit": "11.00",
        "acumulatedcredit": "23.00",
        "balance": "12.00",
        "last_movement_date": t.isoformat(),
    }
    second = (
        await client.get(
            f"/v1/ledger/consolidated?date={t}&limit=2&cursor={first['next_cursor']}", headers=h
        )
    ).json()
    assert second["next_cursor"] is None
    assert second["items"] == [
        {
            "branch": "0002",
            "account": "B1",
            "date": t.isoformat(),
            "totaldebit": "0.00",
            "totalcredit": "0.00",
            "acumulateddebit": "0.00",
            "acumulatedcredit": "100.00",
            "balance": "100.00",
            "last_movement_date": y.isoformat(),
        }
    ]
    yesterday = (await client.get(f"/v1/ledger/consolidated?date={y}", headers=h)).json()
    assert [(i["account"], i["balance"]) for i in yesterday["items"]] == [
        ("A1", "8.00"),
        ("B1", "100.00"),
    ]
    for response in (
        await client.get(f"/v1/ledger/consolidated?date={t}&format=csv", headers=h),
        await client.get(f"/v1/ledger/consolidated?date={t}", headers={**h, "Accept": "text/csv"}),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [(r["branch"], r["account"], r["balance"]) for r in rows] == [
            ("0001", "A1", "12.00"),
            ("0001", "A2", "-3.25"),
            ("0002", "B1", "100.00"),
        ]
    empty = await client.get("/v1/ledger/consolidated?date=2001-01-01&format=csv", headers=h)
    assert empty.text.strip() == ",".join(
        [
            "branch",
            "account",
            "date",
            "totaldebit",
            "totalcredit",
            "acumulateddebit",
            "acumulatedcredit",
            "balance",
            "last_movement_date",
        ]
    )


async def test_a_130_entry_day_reads_to_its_end_by_cursor_and_as_csv(
    client: httpx.AsyncClient, auth: Auth, container: Container, impact: Callable[..., Any]
) -> None:
    moves = [impact(account="BUSY", debitcredit="C", amount="1") for _ in range(130)]
    r = await client.post("/v1/ledger/impacts", json=moves, headers=auth("ledger:write"))
    assert r.json()["counts"] == {"pending": 130}
    async with posting_workers(container):
        await wait_decided(container, [m["tracekey"] for m in moves])
    h = auth("ledger:read")
    t = today()
    base = f"/v1/ledger/accounts/0001/BUSY/statement?from={t}&to={t}"
    first = (await client.get(base, headers=h)).json()
    assert len(first["items"]) == 100 and first["next_cursor"]  # the default page
    rest = (await client.get(f"{base}&cursor={first['next_cursor']}", headers=h)).json()
    assert len(rest["items"]) == 30 and rest["next_cursor"] is None
    assert rest["items"][-1]["balance"] == "130.00"  # the true balance, read to the end
    as_csv = await client.get(f"{base}&format=csv", headers=h)
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 130
    assert rows[-1]["balance"] == "130.00" and rows[0]["amount"] == "1.00"
    by_accept = await client.get(base, headers={**h, "Accept": "text/csv"})
    assert by_accept.text == as_csv.text
    bad = await client.get(f"{base}&format=xml", headers=h)
    assert bad.status_code == 422 and bad.json()["code"] == "CAU-LEDGER-FORMAT-INVALID"
