"""Operator tools against a real database: the key file, `caudal keys rotate`, and
`caudal customers export-features` (pseudonymised Parquet)."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from caudal.cli.main import app
from caudal.customers.crypto import keyfile
from caudal.platform.bootstrap import Container
from caudal.platform.settings import Settings
from tests.conftest import TEST_SECRET
from tests.integration.customers.conftest import CPF_1, CPF_2, cliente

Auth = Callable[..., dict[str, str]]


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, database_url: str) -> None:
    monkeypatch.setenv("CAUDAL_HOME", str(settings.home))
    monkeypatch.setenv("CAUDAL_DATABASE_URL", database_url)
    monkeypatch.setenv("CAUDAL_AUTH__SECRET", TEST_SECRET)


def test_the_key_file_is_created_once_private_and_stable(settings: Settings) -> None:
    first = keyfile.load(settings)
    path = keyfile.key_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = keyfile.load(settings)
    assert again.ring == first.ring and again.index_key == first.index_key
    content = json.loads(path.read_text())
    assert set(content) == {"active", "master_keys", "index_key"}


async def test_rotate_rewraps_every_data_key_and_the_api_still_reads(
    client: httpx.AsyncClient, auth: Auth, container: Container, cli_env: None
) -> None:
    pii = auth("customers:pii")
    ids = []
    for cpf in (CPF_1, CPF_2):
        ids.append(
            (await client.post("/clientes", json=cliente(cpf=cpf), headers=pii)).json()["id"]
        )
    old_active = keyfile.load(container.settings).ring.active
    with psycopg.connect(container.owner_url) as conn:
        before = dict(
            conn.execute("SELECT customer_id::text, wrapped FROM base_a.data_keys").fetchall()
        )

    result = CliRunner().invoke(app, ["keys", "rotate", "--retire"])
    assert result.exit_code == 0, result.output
    assert "2 data key(s) re-wrapped" in result.output

    new_active = keyfile.load(container.settings).ring.active
    assert new_active != old_active
    assert list(keyfile.load(container.settings).ring.keys) == [new_active]  # old one retired
    with psycopg.connect(container.owner_url) as conn:
        rows = conn.execute(
            "SELECT customer_id::text, key_id, wrapped FROM base_a.data_keys"
        ).fetchall()
        audit = conn.execute(
            "SELECT subject, detail FROM audit.log WHERE action = 'keys.rotate'"
        ).fetchone()
    assert {r[1] for r in rows} == {new_active}
    assert all(bytes(r[2]) != bytes(before[r[0]]) for r in rows)
    assert audit is not None and audit[0].startswith("cli") and audit[1]["rewrapped"] == 2
    # the running API (loaded before the rotation) picks up the new master key by itself
    got = await client.get(f"/clientes/{ids[0]}", headers=pii)
    assert got.status_code == 200 and got.json()["cpf"] == "123.456.789-09"
    # running it again has nothing left to do
    again = CliRunner().invoke(app, ["keys", "rotate", "--no-new-key"])
    assert again.exit_code == 0 and "0 data key(s) re-wrapped" in again.output


async def test_export_features_writes_pseudonymised_parquet(
    client: httpx.AsyncClient, auth: Auth, container: Container, cli_env: None, tmp_path: Path
) -> None:
    pii = auth("customers:pii")
    first = (await client.post("/clientes", json=cliente(cpf=CPF_1), headers=pii)).json()
    second = (
        await client.post("/clientes", json=cliente(cpf=CPF_2, nome="José"), headers=pii)
    ).json()
    await client.put(
        f"/clientes/{first['id']}/score-data",
        json={
            "fontes_de_renda": [
                {"tipo": "salario", "descricao": "", "valor": "3000.00", "frequencia": "mensal"}
            ]
        },
        headers=auth("customers:score"),
    )
    await client.delete(f"/clientes/{second['id']}", headers=pii)
    target = tmp_path / "ml" / "features.parquet"
    result = CliRunner().invoke(app, ["customers", "export-features", "--out", f"file://{target}"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(target)
    assert table.num_rows == 1  # the erased customer is not exported
    row = table.to_pylist()[0]
    assert set(row) == {
        "pseudonimo",
        "idade",
        "uf",
        "sexo",
        "estado_civil",
        "renda_mensal",
        "bens_total",
        "dividas_total",
        "dividas_quantidade",
        "dividas_vencidas",
        "consultas_recentes",
        "score",
        "faixa",
    }
    assert str(row["renda_mensal"]) == "3000.00"
    assert str(row["dividas_total"]) == "1620.25"
    assert row["uf"] == "SP" and row["dividas_quantidade"] == 2
    assert row["pseudonimo"] != first["id"] and len(row["pseudonimo"]) == 32
    raw = target.read_bytes()
    for needle in (CPF_1, "123.456.789-09", "Maria", first["id"].encode().decode()):
        assert needle.encode() not in raw
