"""`caudal keys rotate` and `caudal customers export-features`: operator tools.

Both connect with the owner (migrator) URL: re-wrapping every data key and reading every
customer for the feature set are the bulk operations the application role is denied.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from caudal.cli.console import err, fail, out
from caudal.cli.support import load_settings
from caudal.platform.settings import Settings

keys_app = typer.Typer(name="keys", help="Customer PII keys (envelope encryption).")
customers_app = typer.Typer(name="customers", help="Customers: Bases A, B and C.")
app = typer.Typer()  # what `customers.capability` adds to `caudal`
app.add_typer(customers_app)
app.add_typer(keys_app)

SELECT_KEYS_TO_REWRAP = """
SELECT customer_id, key_id, wrapped FROM base_a.data_keys
 WHERE key_id <> %s ORDER BY customer_id LIMIT %s FOR UPDATE SKIP LOCKED
"""
UPDATE_KEY = """
UPDATE base_a.data_keys SET key_id = %s, wrapped = %s, rotated_at = now()
 WHERE customer_id = %s AND key_id = %s
"""
KEY_IDS_IN_USE = "SELECT DISTINCT key_id FROM base_a.data_keys"
AUDIT = """
INSERT INTO audit.log (subject, action, customer_id, trace_key, detail)
VALUES (%s, %s, NULL, NULL, %s)
"""
SELECT_FEATURE_SOURCE = """
SELECT c.id, c.cpf_index, c.profile, k.key_id, k.wrapped,
       coalesce(b.fontes_de_renda, '[]'::jsonb), coalesce(b.bens, '[]'::jsonb)
  FROM base_a.customers c
  JOIN base_a.data_keys k ON k.customer_id = c.id
  LEFT JOIN base_b.score_data b ON b.customer_id = c.id
 WHERE c.erased_at IS NULL
 ORDER BY c.id
"""
BUREAU_COUNTS = """
SELECT cpf_index, count(*) FROM base_c.events
 WHERE type = 'bureau-query' AND occurred_at >= %s GROUP BY cpf_index
"""


def _subject() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def _owner_connection(settings: Settings) -> Iterator[Any]:
    import psycopg

    from caudal.platform.bootstrap import database_owner_url

    owner_url, embedded = database_owner_url(settings)
    try:
        with psycopg.connect(owner_url) as conn:
            yield conn
    finally:
        if embedded is not None:
            embedded.stop()


@keys_app.command("rotate")
def rotate(
    new_key: Annotated[
        bool,
        typer.Option(
            "--new-key/--no-new-key",
            help="Generate a new master key in the key file first (key-file mode only).",
        ),
    ] = True,
    retire: Annotated[
        bool, typer.Option(help="Afterwards, drop from the key file master keys no longer used.")
    ] = False,
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Keys per transaction.")] = 500,
) -> None:
    """Re-wrap every customer's data key under the active master key (PII is not re-encrypted)."""
    from psycopg.types.json import Jsonb

    from caudal.customers.crypto import keyfile
    from caudal.customers.crypto.vault import SealedKey, Vault

    settings = load_settings()
    try:
        if new_key and not settings.customers.master_keys:
            created = keyfile.add_master_key(settings)
            err.print(f"new master key [bold]{created}[/] is now active")
        elif new_key:
            err.print(
                "master keys come from settings: add the new key to CAUDAL_CUSTOMERS__MASTER_KEYS "
                "and point CAUDAL_CUSTOMERS__ACTIVE_KEY_ID at it; re-wrapping under the active one"
            )
        vault = Vault(keyfile.load(settings))
    except (ValueError, OSError) as exc:
        fail(f"cannot load the customer keys: {exc}", "check CAUDAL_CUSTOMERS__* or the key file")
        raise typer.Exit(2) from exc
    active = vault.keys.ring.active
    total = 0
    try:
        with _owner_connection(settings) as conn, err.status("Re-wrapping data keys…") as status:
            while True:
                with conn.transaction():
                    rows = conn.execute(SELECT_KEYS_TO_REWRAP, (active, batch)).fetchall()
                    for customer_id, key_id, wrapped in rows:
                        fresh = vault.rewrap(str(customer_id), SealedKey(key_id, bytes(wrapped)))
                        conn.execute(UPDATE_KEY, (fresh.key_id, fresh.wrapped, customer_id, key_id))
                total += len(rows)
                status.update(f"Re-wrapping data keys… {total}")
                if len(rows) < batch:
                    break
            in_use = {str(r[0]) for r in conn.execute(KEY_IDS_IN_USE).fetchall()}
            with conn.transaction():
                conn.execute(
                    AUDIT,
                    (_subject(), "keys.rotate", Jsonb({"active": active, "rewrapped": total})),
                )
    except Exception as exc:
        fail(
            f"rotation stopped after {total} key(s): {type(exc).__name__}: {exc}",
            "run `caudal migrate`, check the database, then run `caudal keys rotate --no-new-key`"
            " to finish (it resumes where it stopped)",
        )
        raise typer.Exit(1) from exc
    out.print(f"[green]{total} data key(s) re-wrapped[/] under master key {active}")
    if retire and not settings.customers.master_keys:
        removed = keyfile.retire_master_keys(settings, in_use | {active})
        out.print(f"retired master key(s): {', '.join(removed) or 'none'}")


@customers_app.command("export-features")
def export_features(
    out_url: Annotated[
        str,
        typer.Option(
            "--out", help="fsspec URL of the Parquet file (file://, s3://, gs://, or a path)."
        ),
    ],
) -> None:
    """Write the pseudonymised feature set (no name, no CPF) as Parquet, for machine learning."""
    import fsspec
    import pyarrow as pa
    import pyarrow.parquet as pq
    from psycopg.types.json import Jsonb

    from caudal.customers.crypto import keyfile
    from caudal.customers.crypto.envelope import DecryptionFailed
    from caudal.customers.crypto.vault import SealedKey, Vault
    from caudal.customers.features import COLUMNS, feature_row

    settings = load_settings()
    vault = Vault(keyfile.load(settings))
    now = datetime.now(UTC)
    since = now - timedelta(days=settings.customers.bureau_window_days)
    rows: list[dict[str, Any]] = []
    skipped = 0
    try:
        with _owner_connection(settings) as conn, err.status("Reading customers…") as status:
            bureau = {bytes(i): int(n) for i, n in conn.execute(BUREAU_COUNTS, (since,))}
            with conn.cursor(name="features") as cur:
                cur.execute(SELECT_FEATURE_SOURCE)
                for cid, index, sealed, key_id, wrapped, fontes, bens in cur:
                    customer_id = str(cid)
                    try:
                        document = vault.open(
                            customer_id, SealedKey(key_id, bytes(wrapped)), bytes(sealed)
                        )
                    except DecryptionFailed:
                        skipped += 1
                        continue
                    rows.append(
                        feature_row(
                            vault.pseudonym(customer_id),
                            document,
                            list(fontes),
                            list(bens),
                            bureau.get(bytes(index), 0),
                            now.date(),
                        )
                    )
                    if len(rows) % 1000 == 0:
                        status.update(f"Reading customers… {len(rows)}")
            money = pa.decimal128(15, 2)
            schema = pa.schema(
                [
                    ("pseudonimo", pa.string()),
                    ("idade", pa.int32()),
                    ("uf", pa.string()),
                    ("sexo", pa.string()),
                    ("estado_civil", pa.string()),
                    ("renda_mensal", money),
                    ("bens_total", money),
                    ("dividas_total", money),
                    ("dividas_quantidade", pa.int32()),
                    ("dividas_vencidas", pa.int32()),
                    ("consultas_recentes", pa.int32()),
                    ("score", pa.int32()),
                    ("faixa", pa.string()),
                ]
            )
            table = pa.Table.from_pylist(rows, schema=schema).select(list(COLUMNS))
            with fsspec.open(out_url, "wb") as handle:
                pq.write_table(table, handle)
            with conn.transaction():
                conn.execute(
                    AUDIT,
                    (_subject(), "customers.export-features", Jsonb({"rows": len(rows)})),
                )
    except Exception as exc:
        fail(
            f"export failed: {type(exc).__name__}: {exc}",
            "check --out (a writable fsspec URL) and that `caudal migrate` was run",
        )
        raise typer.Exit(1) from exc
    out.print(f"[green]{len(rows)} customer(s) exported[/] to {out_url}")
    if skipped:
        err.print(f"[yellow]{skipped} customer(s) skipped: their data key does not open them[/]")
