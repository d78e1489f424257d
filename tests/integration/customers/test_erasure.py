"""Erasure that survives forensics and reaches every derived copy.

An attacker here holds the database files (heap and WAL after a CHECKPOINT, or an old backup)
and every key that still exists after the erasure (the KMS directory, the key file). The erased
customer must not open; its epoch-mates must; its events must be gone from realtime,
quarantine, the bus and the lake; a backup restored from before the erasure is fixed by
`caudal customers reapply-erasures`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from caudal.cli.main import app
from caudal.customers.base_c.sink import CustomersActivitySink
from caudal.customers.context import build_vault, customers_of
from caudal.customers.cpf import with_check_digits
from caudal.customers.crypto import envelope, keyfile
from caudal.customers.crypto.vault import SealedKey
from caudal.customers.events import ERASED, customer_event
from caudal.events import runtime
from caudal.events.lake_files import LakeFiles, default_url, events_table
from caudal.events.model import CanonicalEvent
from caudal.platform.bootstrap import Container
from caudal.platform.settings import Settings
from tests.integration.customers.conftest import CPF_1, CPF_2, cliente
from tests.support.postgres import PostgresCluster

Auth = Callable[..., dict[str, str]]
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def remaining_keys(settings: Settings) -> dict[str, bytes]:
    """Every key an attacker who also stole CAUDAL_HOME holds after the erasure."""
    keys = {f"kms:{p.name}": p.read_bytes() for p in (settings.home / "kms").glob("*.key")}
    content = json.loads(keyfile.key_file(settings).read_text())
    keys["index_key"] = base64.b64decode(content["index_key"])
    for kid, value in (content.get("master_keys") or {}).items():
        keys[f"master:{kid}"] = base64.b64decode(value)
    return keys


def sealed_row(owner_url: str, customer_id: str) -> tuple[str, bytes, bytes]:
    with psycopg.connect(owner_url) as conn:
        row = conn.execute(
            "SELECT k.key_id, k.wrapped, c.profile FROM base_a.customers c"
            " JOIN base_a.data_keys k ON k.customer_id = c.id WHERE c.id = %s",
            (customer_id,),
        ).fetchone()
    assert row is not None
    return str(row[0]), bytes(row[1]), bytes(row[2])


def database_files(owner_url: str) -> bytes:
    """Base A's heap files and the whole WAL, as raw bytes, after a CHECKPOINT."""
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        data_dir = Path(str(conn.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
        relations = [
            str(r[0])
            for r in conn.execute(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'base_a' AND c.relkind IN ('r', 't')"
                " UNION ALL SELECT pg_relation_filepath(reltoastrelid) FROM pg_class"
                " WHERE relnamespace = 'base_a'::regnamespace AND reltoastrelid <> 0"
            ).fetchall()
            if r[0] is not None
        ]
    blobs = [(data_dir / rel).read_bytes() for rel in relations if (data_dir / rel).exists()]
    blobs += [p.read_bytes() for p in sorted((data_dir / "pg_wal").glob("0*")) if p.is_file()]
    return b"".join(blobs)


def opens_with_any(
    keys: dict[str, bytes], customer_id: str, wrapped: bytes, profile: bytes
) -> list[str]:
    opened = []
    for name, key in keys.items():
        try:
            data_key = envelope.open_sealed(key, wrapped, envelope.wrap_aad(customer_id))
            envelope.open_sealed(data_key, profile, envelope.record_aad(customer_id, "profile"))
        except envelope.DecryptionFailed:
            continue
        opened.append(name)
    return opened


def unique_person() -> dict[str, str]:
    """A CPF, name and street no other test of the session writes: the session's PostgreSQL
    cluster has one WAL for every test's database, so a fixed "Maria" or test CPF written by
    another test would be found there whatever this test's erasure did."""
    letters = "".join(random.choice(string.ascii_lowercase) for _ in range(12))
    return {
        "cpf": with_check_digits(str(random.randrange(10**8, 10**9))),
        "nome": f"Erasmina {letters.capitalize()}",
        "longadouro": f"Rua {letters[::-1].capitalize()}",
    }


async def two_customers(
    client: httpx.AsyncClient, pii: dict[str, str], person: dict[str, str] | None = None
) -> tuple[str, str]:
    """(the customer to erase, CPF_1 or `person`; its epoch-mate José Lima, CPF_2)."""
    first = cliente(cpf=CPF_1)
    if person is not None:
        first = cliente(cpf=person["cpf"], nome=person["nome"])
        first["endereco"]["longadouro"] = person["longadouro"]
    ids = []
    for body in (first, cliente(cpf=CPF_2, nome="José Lima")):
        ids.append((await client.post("/clientes", json=body, headers=pii)).json()["id"])
    return ids[0], ids[1]


async def test_an_erased_customer_cannot_be_decrypted_from_the_files_with_the_remaining_keys(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    pii = auth("customers:pii")
    person = unique_person()
    erased, mate = await two_customers(client, pii, person)
    epoch, wrapped, profile = sealed_row(container.owner_url, erased)  # the "old backup"
    assert sealed_row(container.owner_url, mate)[0] == epoch  # epoch-mates
    before = remaining_keys(container.settings)
    assert opens_with_any(before, erased, wrapped, profile) == [f"kms:{epoch}.key"]  # sanity

    assert (await client.delete(f"/clientes/{erased}", headers=pii)).status_code == 204

    files = database_files(container.owner_url)
    assert wrapped in files and profile in files  # the copies are still on disk (dead tuples, WAL)
    keys = remaining_keys(container.settings)
    assert f"kms:{epoch}.key" not in keys and keys  # the old epoch key is destroyed
    assert opens_with_any(keys, erased, wrapped, profile) == []
    # and nothing of its profile is in clear anywhere in those files
    for clear in (person["nome"], person["cpf"], person["longadouro"]):
        assert clear.encode() not in files, f"{clear!r} in the database files"

    # the epoch-mate moved to a fresh epoch and still opens, in this process and a new one
    new_epoch, mate_wrapped, mate_profile = sealed_row(container.owner_url, mate)
    assert new_epoch != epoch and opens_with_any(keys, mate, mate_wrapped, mate_profile) == [
        f"kms:{new_epoch}.key"
    ]
    got = await client.get(f"/clientes/{mate}", headers=pii)
    assert got.status_code == 200 and got.json()["nome"] == "José Lima"
    fresh = build_vault(container.settings)
    assert fresh.open(mate, SealedKey(new_epoch, mate_wrapped), mate_profile)["nome"] == "José Lima"
    gone = await client.get(f"/clientes/{erased}", headers=pii)
    assert gone.status_code == 410 and gone.json()["code"] == "CAU-CUSTOMERS-ERASED"
    # erasing again is a no-op that opens no epoch (no KMS key per repeated DELETE)
    assert (await client.delete(f"/clientes/{erased}", headers=pii)).status_code == 204
    missing = await client.delete(f"/clientes/{uuid.uuid4()}", headers=pii)
    assert missing.status_code == 404
    assert remaining_keys(container.settings) == keys
    with psycopg.connect(container.owner_url) as conn:
        states = dict(conn.execute("SELECT id, state FROM base_a.key_epochs").fetchall())
        log = conn.execute(
            "SELECT customer_id::text, old_epoch, new_epoch, rekeyed_ids::text[]"
            " FROM audit.erasures"
        ).fetchall()
    assert states[epoch] == "retired" and states[new_epoch] == "live"
    assert log == [(erased, epoch, new_epoch, [mate])]


def token_event(event_type: str, token: str, n: int, received: datetime = T0) -> CanonicalEvent:
    """An event as the intake stores it: the CPF replaced by its token."""
    return CanonicalEvent(
        id=f"{event_type}-{token[:8]}-{n}",
        source="backend",
        type=event_type,
        version="1.0",
        occurred_at=received,
        received_at=received,
        data={"cpf": token, "valor": "10.00", "n": n},
    )


async def test_erasure_removes_the_customers_events_from_realtime_quarantine_bus_and_lake(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    pii = auth("customers:pii")
    erased, _ = await two_customers(client, pii)
    customers = customers_of(container)
    gone, kept = customers.vault.cpf_index(CPF_1).hex(), customers.vault.cpf_index(CPF_2).hex()
    mixed = [token_event("card-purchase", t, n) for n in range(2) for t in (gone, kept)]
    only_gone = [token_event("bureau-query", gone, 9)]

    from caudal.events.sinks.realtime import RealtimeSink

    await RealtimeSink(container.database).write(mixed + only_gone)
    await container.bus.publish([e.to_message(e.id) for e in mixed + only_gone])
    lake = LakeFiles(container.settings.lake.url or default_url(container.settings.home))
    lake.write_table("backend/card-purchase/dt=2026-01-10", "part-1.parquet", events_table(mixed))
    lake.write_table(
        "backend/bureau-query/dt=2026-01-10", "part-2.parquet", events_table(only_gone)
    )
    sealer = runtime.get(container).sealer
    with psycopg.connect(container.owner_url) as conn:
        for token in (gone, kept):  # sealed, as the intake stores an invalid event
            entry = str(uuid.uuid4())
            sealed = sealer.seal(entry, json.dumps({"data": {"cpf": token}}).encode())
            conn.execute(
                "INSERT INTO events.quarantine (id, received_at, source, type, version, reason,"
                " code, message, sealed, wrapped_key, key_epoch, tokens) VALUES (%s, now(),"
                " 'backend', 'card-purchase', '1.0', 'schema', 'CAU-EVT-SCHEMA', 'invalid', %s,"
                " %s, %s, %s)",
                (entry, sealed.sealed, sealed.wrapped_key, sealed.key_epoch, sealed.tokens),
            )
    assert (await client.delete(f"/clientes/{erased}", headers=pii)).status_code == 204
    erased_event = customer_event(ERASED, erased, bytes.fromhex(gone), None)
    # the router delivers customers.erased to the customers.activity sink
    await CustomersActivitySink(customers).write([CanonicalEvent.from_dict(erased_event.payload)])

    def holding(token: str) -> dict[str, int]:
        with psycopg.connect(container.owner_url) as conn:
            return {
                table: int(
                    conn.execute(  # type: ignore[index]
                        f"SELECT count(*) FROM {table} t WHERE position(%s IN t.{col}::text) > 0",
                        (token,),
                    ).fetchone()[0]
                )
                for table, col in (
                    ("events.recent", "data"),
                    ("events.quarantine", "tokens"),
                    ("bus.messages", "payload"),
                )
            }

    # on the bus, only `customers.erased` itself stays: groups that have not read it must see it
    assert holding(gone) == {"events.recent": 0, "events.quarantine": 0, "bus.messages": 1}
    with psycopg.connect(container.owner_url) as conn:
        left = conn.execute(
            "SELECT payload->>'type' FROM bus.messages WHERE position(%s IN payload::text) > 0",
            (gone,),
        ).fetchall()
    assert left == [("customers.erased",)]
    assert holding(kept) == {"events.recent": 2, "events.quarantine": 1, "bus.messages": 3}
    table = lake.read([p for ps in lake.parts().values() for p in ps])
    data = table.column("data").to_pylist()
    assert not any(gone in d for d in data) and sum(kept in d for d in data) == 2
    assert [p.rpartition("/")[2] for ps in lake.parts().values() for p in ps] == ["part-1.parquet"]


def pg_tool(name: str) -> str:
    import pgserver

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)


async def test_reapply_erasures_after_restoring_a_pre_erasure_dump(
    client: httpx.AsyncClient,
    auth: Auth,
    container: Container,
    pg_cluster: PostgresCluster,
    cli_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    pii = auth("customers:pii")
    erased, mate = await two_customers(client, pii)
    token = customers_of(container).vault.cpf_index(CPF_1).hex()
    with psycopg.connect(container.owner_url) as conn:
        conn.execute(
            "INSERT INTO events.recent (id, source, type, version, occurred_at, received_at, data)"
            " VALUES ('e1', 'backend', 'card-purchase', '1.0', now(), now(), %s)",
            (json.dumps({"cpf": token}),),
        )
    dump = tmp_path / "before.dump"
    proc = await asyncio.create_subprocess_exec(
        pg_tool("pg_dump"), "-Fc", "-f", str(dump), container.owner_url
    )
    assert await proc.wait() == 0

    assert (await client.delete(f"/clientes/{erased}", headers=pii)).status_code == 204
    log = tmp_path / "erasures.jsonl"
    exported = await asyncio.to_thread(
        CliRunner().invoke, app, ["customers", "erasures", "--out", str(log)]
    )
    assert exported.exit_code == 0, exported.output
    assert "1 erasure log entry" in exported.output
    entry = json.loads(log.read_text())
    assert entry["customer_id"] == erased and entry["cpf_index"] == token
    assert CPF_1 not in log.read_text() and "Maria" not in log.read_text()

    with pg_cluster.database(migrated=False) as restored_url:
        proc = await asyncio.create_subprocess_exec(
            pg_tool("pg_restore"), "--no-owner", "-d", restored_url, str(dump)
        )
        assert await proc.wait() == 0
        vault = build_vault(container.settings)

        def mate_opens() -> bool:
            key_id, wrapped, profile = sealed_row(restored_url, mate)
            try:
                return vault.open(mate, SealedKey(key_id, wrapped), profile)["nome"] == "José Lima"
            except envelope.DecryptionFailed:
                return False

        # the restored backup predates the erasure: its epoch key is gone, so neither the
        # erased customer nor its epoch-mate opens
        assert not mate_opens()
        monkeypatch.setenv("CAUDAL_DATABASE_URL", restored_url)
        result = await asyncio.to_thread(
            CliRunner().invoke, app, ["customers", "reapply-erasures", "--log", str(log)]
        )
        assert result.exit_code == 0, result.output
        assert "1 customer(s) erased again" in result.output
        assert mate_opens()
        with psycopg.connect(restored_url) as conn:
            row = conn.execute(
                "SELECT erased_at IS NOT NULL, cpf_index, profile,"
                " (SELECT count(*) FROM base_a.data_keys WHERE customer_id = c.id),"
                " (SELECT count(*) FROM events.recent),"
                " (SELECT count(*) FROM audit.erasures)"
                " FROM base_a.customers c WHERE id = %s",
                (erased,),
            ).fetchone()
        assert row == (True, None, None, 0, 0, 1)
        # barred at the erasure's own time, not the re-apply's: copies received since stay
        assert barred_at(restored_url, token) == datetime.fromisoformat(entry["at"])
        again = await asyncio.to_thread(
            CliRunner().invoke, app, ["customers", "reapply-erasures", "--log", str(log)]
        )
        assert again.exit_code == 0 and mate_opens()  # idempotent
        assert barred_at(restored_url, token) == datetime.fromisoformat(entry["at"])


def barred_at(url: str, token: str) -> datetime | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT at FROM events.erased_tokens WHERE token = %s", (token,))
        found = row.fetchone()
    return found[0] if found else None
