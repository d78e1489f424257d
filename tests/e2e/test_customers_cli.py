"""A user's journey with customers on `caudal up` (embedded defaults): create a customer, feed
Base C with a backend event, read the score, then rotate the keys and export the ML features with
the CLI, and read the customer again after the rotation."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from tests.e2e.conftest import Server, caudal

CPF = "123.456.789-09"


@pytest.mark.migrated_home  # not about a home's first start
def test_customers_journey(start_server: type[Server], home: Path, tmp_path: Path) -> None:
    server = start_server()
    server.wait_ready()
    headers = {"Authorization": f"Bearer {server.admin_token()}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as http:
        created = http.post(
            "/clientes",
            json={
                "nome": "Ana Beatriz Lima",
                "cpf": CPF,
                "data_nascimento": "1990-07-01",
                "sexo": "F",
                "estado_civil": "solteira",
                "endereco": {
                    "uf": "RJ",
                    "cidade": "Rio de Janeiro",
                    "bairro": "Centro",
                    "longadouro": "Rua A",
                    "numero": 10,
                    "complemento": "",
                },
                "dividas": [],
            },
        )
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        event = http.post(
            "/v1/events/backend",
            json={
                "eventType": "card-purchase",
                "eventDateTime": "2026-01-12T11:30:00-0300",
                "version": "1.0",
                "data": {
                    "cpf": CPF,
                    "data_compra": "2026-01-12T11:30:00-03:00",
                    "valor": "59.90",
                    "bandeira_cartao": "elo",
                    "produto": "livro",
                    "tipo": "credito",
                    "codigo_transacao": "TX-1",
                },
            },
        )
        assert event.status_code == 202, event.text
        deadline = time.monotonic() + 30
        while True:
            consultar = http.get(f"/clientes/{CPF}/consultar")
            if consultar.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert consultar.status_code == 200, consultar.text
        assert consultar.json()["ultima_compra"]["valor"] == 59.9
        score = http.get(f"/clientes/{cid}/score")
        assert score.status_code == 200 and 0 <= score.json()["score"] <= 1000
    assert server.stop() == 0

    rotated = caudal("keys", "rotate", "--retire", home=home)
    assert rotated.returncode == 0, rotated.stderr + rotated.stdout
    assert "1 data key(s) re-wrapped" in rotated.stdout
    target = tmp_path / "features.parquet"
    exported = caudal("customers", "export-features", "--out", str(target), home=home)
    assert exported.returncode == 0, exported.stderr + exported.stdout
    rows = pq.read_table(target).to_pylist()
    assert len(rows) == 1 and rows[0]["uf"] == "RJ" and "Ana" not in str(rows[0])

    again = start_server()
    again.wait_ready()
    with httpx.Client(
        base_url=again.base_url,
        headers={"Authorization": f"Bearer {again.admin_token()}"},
        timeout=10,
    ) as http:
        read = http.get(f"/clientes/{cid}")
        assert read.status_code == 200 and read.json()["nome"] == "Ana Beatriz Lima"
