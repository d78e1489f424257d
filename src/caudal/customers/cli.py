"""`caudal keys rotate` and `caudal customers export-features`: operator tools.

Both connect with the owner (migrator) URL: re-wrapping every data key and reading every
customer for the feature set are the bulk operations the application role is denied.
"""

from __future__ import annotations

import getpass
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
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

LIVE_EPOCHS = "SELECT id FROM base_a.key_epochs WHERE state = 'live' ORDER BY created_at, id"
LOCK_EPOCH = "SELECT 1 FROM base_a.key_epochs WHERE id = %s AND state = 'live' FOR UPDATE"
EPOCH_KEYS = "SELECT customer_id, wrapped FROM base_a.data_keys WHERE key_id = %s"
REKEY = "SELECT base_a.epoch_rekey(%s, %s, NULL, %s, %s)"
LOG_REKEY = """
INSERT INTO audit.erasures (erasure_id, old_epoch, new_epoch, rekeyed_ids, rekeyed_wrapped)
VALUES (gen_random_uuid(), %s, %s, %s, %s)
"""
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
    retire: Annotated[
        bool,
        typer.Option(help="Afterwards, drop legacy master keys from the key file (none in use)."),
    ] = False,
) -> None:
    """Give every key epoch a fresh epoch key: re-wrap its data keys, destroy the old key in the
    KMS (PII is not re-encrypted). Legacy master-wrapped keys move into epochs first."""
    import asyncio

    from psycopg.types.json import Jsonb

    from caudal.customers.crypto import keyfile
    from caudal.customers.crypto.epochs import new_epoch_id
    from caudal.customers.crypto.vault import SealedKey

    settings = load_settings()
    try:
        vault = _vault(settings)
    except (ValueError, OSError) as exc:
        fail(f"cannot load the customer keys: {exc}", "check CAUDAL_CUSTOMERS__* or the key file")
        raise typer.Exit(2) from exc
    total = epochs = 0
    try:
        asyncio.run(_upgrade(settings))
        with _owner_connection(settings) as conn, err.status("Re-keying epochs…") as status:
            for (old,) in conn.execute(LIVE_EPOCHS).fetchall():
                new = new_epoch_id()
                with conn.transaction():
                    conn.execute("SELECT base_a.epoch_pending(%s)", (new,))
                vault.epochs.create(new)
                with conn.transaction():
                    if conn.execute(LOCK_EPOCH, (old,)).fetchone() is None:
                        continue  # an erasure re-keyed it meanwhile
                    rows = conn.execute(EPOCH_KEYS, (old,)).fetchall()
                    ids = [cid for cid, _ in rows]
                    wrapped = [
                        vault.rewrap(str(cid), SealedKey(old, bytes(w)), new).wrapped
                        for cid, w in rows
                    ]
                    conn.execute(REKEY, (old, new, ids, wrapped))
                    conn.execute(LOG_REKEY, (old, new, ids, wrapped))
                vault.epochs.destroy(old)
                total += len(rows)
                epochs += 1
                status.update(f"Re-keying epochs… {epochs} ({total} data keys)")
            with conn.transaction():
                conn.execute(
                    AUDIT,
                    (_subject(), "keys.rotate", Jsonb({"epochs": epochs, "rewrapped": total})),
                )
    except Exception as exc:
        fail(
            f"rotation stopped after {total} key(s): {type(exc).__name__}: {exc}",
            "run `caudal migrate`, check the database, then run `caudal keys rotate` again"
            " (epochs already re-keyed are simply re-keyed once more)",
        )
        raise typer.Exit(1) from exc
    out.print(f"[green]{total} data key(s) re-wrapped[/] under {epochs} fresh epoch key(s)")
    if retire:
        removed = keyfile.retire_master_keys(settings)
        out.print(f"retired master key(s): {', '.join(removed) or 'none'}")


def _vault(settings: Settings) -> Any:
    from caudal.customers.context import build_vault

    return build_vault(settings)


async def _upgrade(settings: Settings) -> None:
    """Legacy master-wrapped data keys into epochs, exactly as an API start does."""
    from caudal.customers import context
    from caudal.customers.base_a import key_epochs
    from caudal.platform.bootstrap import database_owner_url
    from caudal.platform.db.pool import Database

    owner_url, embedded = database_owner_url(settings)
    database = Database(owner_url, min_size=1, max_size=2)
    try:
        await database.open()
        state = context.Customers(
            settings=settings.customers,
            database=database,
            bus=None,  # type: ignore[arg-type]  # the upgrade publishes nothing
            vault=_vault(settings),
            cache=None,  # type: ignore[arg-type]
            copies=context.build_copies(settings),
            consultas=None,  # type: ignore[arg-type]  # nor does it read Base C
        )
        await key_epochs.upgrade_legacy(state, settings)
    finally:
        await database.close()
        if embedded is not None:
            embedded.stop()


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

    from caudal.customers.crypto.envelope import DecryptionFailed
    from caudal.customers.crypto.vault import SealedKey
    from caudal.customers.features import COLUMNS, feature_row

    settings = load_settings()
    vault = _vault(settings)
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


@customers_app.command("erasures")
def erasures(
    out_path: Annotated[str, typer.Option("--out", help="JSON-lines file to write the log to.")],
) -> None:
    """Export the erasure log (no PII): keep it apart from database backups, newer than them."""
    import asyncio

    from caudal.customers.reapply import Erasure, read_log

    settings = load_settings()

    async def run() -> list[Erasure]:
        async with _owner_async(settings) as conn:
            entries = await read_log(conn)
        return entries

    found = asyncio.run(run())
    Path(out_path).write_text("".join(e.to_json() + "\n" for e in found), encoding="utf-8")
    count = len(found)
    out.print(
        f"[green]{count} erasure log entr{'y' if count == 1 else 'ies'}[/] written to {out_path}"
    )


@customers_app.command("reapply-erasures")
def reapply_erasures(
    log_path: Annotated[
        str | None,
        typer.Option("--log", help="Erasure log exported before the restore (default: the table)."),
    ] = None,
) -> None:
    """After restoring a backup: erase again every customer the log erased (Base A, B, C, events,
    bus, lake) and put the epoch-mates' re-wrapped data keys back."""
    import asyncio

    from caudal.customers.context import build_copies
    from caudal.customers.reapply import Erasure, read_log, reapply

    settings = load_settings()
    given = (
        [Erasure.from_json(line) for line in Path(log_path).read_text("utf-8").splitlines() if line]
        if log_path is not None
        else None
    )

    async def run() -> tuple[int, int]:
        async with _owner_async(settings) as conn:
            entries = given if given is not None else await read_log(conn)
            erased, retired = await reapply(conn, build_copies(settings), entries)
        vault = _vault(settings)
        for epoch in retired:
            vault.epochs.destroy(epoch)
        return len(entries), erased

    try:
        entries, erased = asyncio.run(run())
    except Exception as exc:
        fail(
            f"re-applying the erasure log failed: {type(exc).__name__}: {exc}",
            "run `caudal migrate` first; the command is idempotent, run it again",
        )
        raise typer.Exit(1) from exc
    out.print(
        f"[green]{entries} log entr{'y' if entries == 1 else 'ies'} re-applied[/]: "
        f"{erased} customer(s) erased again"
    )


@asynccontextmanager
async def _owner_async(settings: Settings) -> AsyncIterator[Any]:
    import psycopg

    from caudal.platform.bootstrap import database_owner_url

    owner_url, embedded = database_owner_url(settings)
    try:
        async with await psycopg.AsyncConnection.connect(owner_url, autocommit=True) as conn:
            yield conn
    finally:
        if embedded is not None:
            embedded.stop()
