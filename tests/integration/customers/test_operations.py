"""Operator tools against a real database: the key file, `caudal keys rotate`, and
`caudal customers export-features` (pseudonymised Parquet)."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from caudal.cli.main import app
from caudal.customers.crypto import keyfile
from caudal.customers.crypto.envelope import DecryptionFailed
from caudal.platform.bootstrap import Container
from caudal.platform.kms_file import FileKeyManager
from caudal.platform.settings import Settings
from tests.integration.customers.conftest import CPF_1, CPF_2, cliente

Auth = Callable[..., dict[str, str]]


def test_the_key_file_is_created_once_private_and_stable(settings: Settings) -> None:
    first = keyfile.load(settings)
    path = keyfile.key_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = keyfile.load(settings)
    assert again.index_key == first.index_key and again.ring is None
    content = json.loads(path.read_text())
    assert set(content) == {"index_key"}  # data keys are wrapped by epoch keys in the KMS
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_concurrent_first_starts_agree_on_one_key_file(settings: Settings) -> None:
    # two `caudal api` starting at once on a fresh home used to share one temporary name
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        loaded = list(pool.map(lambda _: keyfile.load(settings), range(32)))
    assert len({k.index_key for k in loaded}) == 1
    assert keyfile.load(settings).index_key == loaded[0].index_key


def _epochs(owner_url: str) -> dict[str, str]:
    with psycopg.connect(owner_url) as conn:
        return dict(conn.execute("SELECT id, state FROM base_a.key_epochs").fetchall())


async def test_rotate_gives_every_epoch_a_fresh_key_and_the_api_still_reads(
    client: httpx.AsyncClient, auth: Auth, container: Container, cli_env: None
) -> None:
    pii = auth("customers:pii")
    ids = []
    for cpf in (CPF_1, CPF_2):
        ids.append(
            (await client.post("/clientes", json=cliente(cpf=cpf), headers=pii)).json()["id"]
        )
    kms = FileKeyManager(container.settings.home / "kms")
    old = [e for e, state in _epochs(container.owner_url).items() if state == "live"]
    assert len(old) == 1 and kms.names() == old
    with psycopg.connect(container.owner_url) as conn:
        before = dict(
            conn.execute("SELECT customer_id::text, wrapped FROM base_a.data_keys").fetchall()
        )

    # the CLI runs its own event loop: call it from a thread, as a terminal would from outside
    result = await asyncio.to_thread(CliRunner().invoke, app, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "2 data key(s) re-wrapped under 1 fresh epoch key(s)" in result.output

    epochs = _epochs(container.owner_url)
    new = [e for e, state in epochs.items() if state == "live"]
    assert epochs[old[0]] == "retired" and len(new) == 1
    assert kms.names() == new  # the old epoch key is gone from the KMS
    with psycopg.connect(container.owner_url) as conn:
        rows = conn.execute(
            "SELECT customer_id::text, key_id, wrapped FROM base_a.data_keys"
        ).fetchall()
        audit = conn.execute(
            "SELECT subject, detail FROM audit.log WHERE action = 'keys.rotate'"
        ).fetchone()
        logged = conn.execute(
            "SELECT customer_id, old_epoch, new_epoch, cardinality(rekeyed_ids) FROM audit.erasures"
        ).fetchall()
    assert {r[1] for r in rows} == set(new)
    assert all(bytes(r[2]) != bytes(before[r[0]]) for r in rows)
    assert audit is not None and audit[0].startswith("cli") and audit[1]["rewrapped"] == 2
    assert logged == [(None, old[0], new[0], 2)]
    # the running API (loaded before the rotation) fetches the new epoch key by itself
    got = await client.get(f"/clientes/{ids[0]}", headers=pii)
    assert got.status_code == 200 and got.json()["cpf"] == "123.456.789-09"


async def test_legacy_master_wrapped_keys_move_into_epochs_and_master_keys_retire(
    container: Container, settings: Settings
) -> None:
    """A home from before key epochs: data keys wrapped by the key file's master key."""
    from caudal.customers import context
    from caudal.customers.base_a import key_epochs, service
    from caudal.customers.crypto.envelope import MasterKeyRing, new_data_key
    from caudal.customers.crypto.vault import SealedKey

    path = keyfile.key_file(settings)
    index = keyfile.new_key_text()
    master = keyfile.new_key_text()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"active": "k1", "master_keys": {"k1": master}, "index_key": index}))
    await container.database.open()
    try:
        state = context.build(container)
        ring = MasterKeyRing("k1", {"k1": base64.b64decode(master)})
        customer_id = str(uuid.uuid4())
        data_key = new_data_key()
        _, wrapped = ring.wrap(data_key, customer_id)
        sealed = state.vault.seal(customer_id, data_key, {"nome": "Ana Legada"})
        with psycopg.connect(container.owner_url) as conn:
            conn.execute(
                "INSERT INTO base_a.customers (id, cpf_index, profile) VALUES (%s, %s, %s)",
                (customer_id, b"legacy-index", sealed),
            )
            conn.execute(
                "INSERT INTO base_a.data_keys (customer_id, key_id, wrapped) VALUES (%s, %s, %s)",
                (customer_id, "k1", wrapped),
            )
        assert await key_epochs.upgrade_legacy(state, settings) == 1
        assert await key_epochs.upgrade_legacy(state, settings) == 0  # idempotent
        assert set(json.loads(path.read_text())) == {"index_key"}  # master key retired
        fresh = context.build(container)  # a new process: only the index key and the KMS
        async with container.database.connection() as conn:
            got, document = await service.load(fresh, conn, customer_id)
        assert document == {"nome": "Ana Legada"}
        assert got.key is not None and got.key.key_id.startswith("customers-epoch-")
        with pytest.raises(DecryptionFailed):  # the old wrap no longer opens with any key
            fresh.vault.data_key(customer_id, SealedKey("k1", wrapped))
    finally:
        await container.database.close()


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
