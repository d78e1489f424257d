"""Personal data never leaves the intake in clear (issue 12).

A customer is created in Base A; `card-purchase` and `bureau-query` events carry its CPF (digits
and formatted); invalid ones (an undeclared `nome`, a CPF given as a number, a bad amount) go to
quarantine. Then, after a CHECKPOINT and a clean stop (the shutdown checkpoint), no file under
CAUDAL_HOME (PostgreSQL heap and WAL, lake, key files), no log line and no answer of the events,
monitoring, quarantine, lake or Base C interfaces holds the CPF or the name, while
`/clientes/{cpf}/consultar` still finds the customer's activity by CPF.

The invalid events carry a second person's CPF and name: a quarantined payload is sealed at rest
(`events/quarantine_seal.py`), so that person's data may appear nowhere either. Frontend clicks,
whose schemas mark nothing, carry a third person's CPF, formatted, in an extra property and in a
declared free-text property (`events/pii_guard.py`): refused by field, sealed, nowhere in clear.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from caudal.customers.cpf import format_cpf, with_check_digits
from caudal.platform.db.embedded import EmbeddedPostgres
from tests.e2e.conftest import Server, caudal
from tests.support.pii_grep import grep_text, grep_tree, needles, report

FAST = {"CAUDAL_LAKE__FLUSH_MAX_SECONDS": "3600", "CAUDAL_BUS__POLL_INTERVAL_SECONDS": "0.2"}
CPF = with_check_digits("318467205")
NAME = "Zuleica Quintanilha Bragaval"
OTHER_CPF = with_check_digits("604172938")
OTHER_NAME = "Ubirajara Tavolaro Quenzel"
THIRD_CPF = with_check_digits("815260473")
SUPPORT_SCHEMA = {  # a frontend schema with a free-text property and no personal mark
    "type": "click_support",
    "version": "1.0",
    "source": "frontend",
    "schema": {"type": "object", "properties": {"comentario": {"type": "string"}}},
}
DAY = "2026-03-02"


def purchase(cpf: Any, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": "card-purchase",
        "eventDateTime": f"{DAY}T10:00:00-03:00",
        "version": "1.0",
        "data": {
            "cpf": cpf,
            "data_compra": DAY,
            "valor": "129.90",
            "bandeira_cartao": "visa",
            "produto": "fone",
            "tipo": "credito",
            "codigo_transacao": "TX-PII-1",
            **extra,
        },
    }


def bureau(cpf: Any) -> dict[str, Any]:
    return {
        "eventType": "bureau-query",
        "eventDateTime": f"{DAY}T11:00:00-03:00",
        "version": "1.0",
        "data": {
            "cpf": cpf,
            "empresa": "Loja X",
            "data_consulta": DAY,
            "tipo_empresa": "varejo",
        },
    }


def consulted(http: httpx.Client) -> dict[str, Any]:
    """`/consultar` once the activity sink has projected both blocks."""
    deadline = time.monotonic() + 60
    while True:
        answer = http.get(f"/clientes/{format_cpf(CPF)}/consultar")
        body = answer.json()
        if answer.status_code == 200 and body.get("ultima_compra") and body.get("ultima_consulta"):
            return dict(body)
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.3)


@pytest.mark.migrated_home  # not about a home's first start
def test_no_clear_cpf_or_name_anywhere_after_intake(home: Path, start_server: type[Server]) -> None:
    server = start_server(**FAST)
    server.wait_ready()
    answers: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {server.admin_token()}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as http:
        created = http.post(
            "/clientes",
            json={
                "nome": NAME,
                "cpf": format_cpf(CPF),
                "data_nascimento": "1980-01-02",
                "endereco": {"uf": "SP", "cidade": "Santos", "longadouro": "Rua Quenzel"},
            },
        )
        assert created.status_code == 201, created.text

        valid = http.post("/v1/events/batch", json=[purchase(CPF), bureau(format_cpf(CPF))])
        assert valid.status_code == 202, valid.text
        assert valid.json()["rejected"] == []
        answers["valid batch"] = valid.text
        invalid = http.post(
            "/v1/events/batch",
            json=[
                purchase(format_cpf(OTHER_CPF), nome=OTHER_NAME),
                bureau(int(OTHER_CPF)),
                purchase(OTHER_CPF, valor="muito"),
            ],
        )
        assert invalid.status_code == 422, invalid.text
        answers["invalid batch"] = invalid.text
        assert invalid.json()["code"] == "CAU-EVT-REJECTED"

        registered = http.post("/v1/schemas", json=SUPPORT_SCHEMA)
        assert registered.status_code == 201, registered.text
        clicks = http.post(
            "/v1/events/frontend",
            json={
                "device": {"platform": "Android", "deviceId": "pii-edge-device"},
                "data": [
                    {"timestamp": f"{DAY}T12:00:00-03:00", "event_id": "click_button_ok"},
                    {
                        "timestamp": f"{DAY}T12:00:01-03:00",
                        "event_id": "click_button_help",
                        "protocolo": format_cpf(THIRD_CPF),
                    },
                    {
                        "timestamp": f"{DAY}T12:00:02-03:00",
                        "event_id": "click_support",
                        "comentario": f"meu cpf e {format_cpf(THIRD_CPF)}, obrigado",
                    },
                ],
            },
        )
        assert clicks.status_code == 202, clicks.text
        answers["clicks"] = clicks.text
        assert [a["index"] for a in clicks.json()["accepted"]] == [0]

        quarantined = http.get("/v1/quarantine", params={"status": "all"}).json()
        answers["quarantine"] = json.dumps(quarantined)
        by_field = {i["field"]: (i["code"], i["message"]) for i in quarantined["items"]}
        assert by_field == {
            "[0].data.nome": (
                "CAU-EVT-PII-UNDECLARED",
                "data.nome: property not declared by a schema with personal fields; declare it"
                " (marked x-caudal-pii if personal) in a new schema version"
                " (schema card-purchase 1.0)",
            ),
            "[1].data.cpf": (
                "CAU-EVT-SCHEMA-VIOLATION",
                "data.cpf: expected string (schema bureau-query 1.0)",
            ),
            "[2].data.valor": (
                "CAU-EVT-SCHEMA-VIOLATION",
                "data.valor: does not match the pattern ^-?\\d{1,13}(\\.\\d{1,2})?$"
                " (schema card-purchase 1.0)",
            ),
            "data[1].protocolo": (
                "CAU-EVT-PII-CPF",
                "data.protocolo: holds a valid CPF, and no x-caudal-pii mark says what to do with"
                ' it; in a new schema version, mark the property "x-caudal-pii": "cpf" (stored as'
                ' its token) or "free" (dropped), or "none" if the number is not a CPF'
                " (schema click_* 1.0)",
            ),
            "data[2].comentario": (
                "CAU-EVT-PII-CPF",
                "data.comentario: holds a valid CPF, and no x-caudal-pii mark says what to do"
                ' with it; in a new schema version, mark the property "x-caudal-pii": "cpf"'
                ' (stored as its token) or "free" (dropped), or "none" if the number is not a'
                " CPF (schema click_support 1.0)",
            ),
        }
        assert [i["payload"] for i in quarantined["items"]] == [None] * 5  # sealed at rest
        first = next(i["id"] for i in quarantined["items"] if i["field"] == "[0].data.nome")
        revealed = http.get(f"/v1/quarantine/{first}/payload")
        answers["revealed"] = revealed.text
        shown = revealed.json()["payload"]["data"]
        assert shown["cpf"] == "[redacted]" and shown["produto"] == "fone"
        support = next(i["id"] for i in quarantined["items"] if i["field"].endswith("comentario"))
        revealed = http.get(f"/v1/quarantine/{support}/payload")
        answers["revealed click"] = revealed.text
        assert revealed.json()["payload"]["item"]["comentario"] == "[redacted]"
        answers["replay"] = http.post("/v1/quarantine/replay").text

        activity = consulted(http)
        assert activity["ultima_compra"]["codigo_transacao"] == "TX-PII-1"
        assert activity["ultima_consulta"]["empresa"] == "Loja X"
        answers["consultar"] = json.dumps(activity)
        answers["eventos"] = http.get(f"/clientes/{CPF}/eventos").text
        monitored = http.get("/v1/monitor/events", params={"source": "backend"}).json()
        answers["monitor"] = json.dumps(monitored)
        tokens = {i["data"]["cpf"] for i in monitored["items"]}
        assert len(tokens) == 1 and len(tokens.pop()) == 64  # one customer, by its token

    for args in (
        ("lake", "flush"),
        ("lake", "sql", 'SELECT data FROM backend."card-purchase"', "--format", "json"),
        ("quarantine", "list", "--status", "all", "--format", "json"),
    ):
        result = caudal(*args, home=home, **FAST)
        assert result.returncode == 0, result.stderr
        answers[" ".join(args)] = result.stdout + result.stderr
    assert '\\"cpf\\":' in answers[next(k for k in answers if k.startswith("lake sql"))]

    embedded = EmbeddedPostgres(home)
    try:
        with psycopg.connect(embedded.start(), autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    finally:
        embedded.stop()
    assert server.stop() == 0  # a clean stop: the shutdown checkpoint writes everything out

    mine = needles([CPF], [NAME])
    other = needles([OTHER_CPF, THIRD_CPF], [OTHER_NAME])
    texts = {**answers, "server output": "\n".join(server.lines)}
    in_texts = [h for label, text in texts.items() for h in grep_text(label, text, mine + other)]
    assert in_texts == [], report(in_texts)
    in_files = grep_tree(home, mine + other)
    assert in_files == [], report(in_files)
