"""The life of key epochs: opening one (row first, then the KMS key), destroying retired ones,
and moving legacy master-wrapped data keys into epochs.

Order matters for safety: an epoch's row is committed `pending` before its KMS key exists, and a
retired epoch's KMS key is destroyed only after the re-keying transaction committed. A crash
anywhere leaves either a pending row the sweeper retires after GRACE, or a retired row whose key
the sweeper destroys: never a stored data key whose epoch key is gone, never an epoch key
nothing tracks.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from caudal.customers.base_a import store
from caudal.customers.context import Customers
from caudal.customers.crypto import keyfile
from caudal.customers.crypto.epochs import new_epoch_id
from caudal.customers.crypto.vault import SealedKey
from caudal.platform.settings import Settings

log = logging.getLogger(__name__)
GRACE = timedelta(minutes=10)
UPGRADE_BATCH = 500


async def open_pending(customers: Customers) -> str:
    """A new epoch, committed `pending`, with its key created in the KMS."""
    epoch = new_epoch_id()
    async with customers.database.connection() as conn, conn.transaction():
        await store.epoch_pending(conn, epoch)
    await asyncio.to_thread(customers.vault.epochs.create, epoch)
    return epoch


async def for_new_keys(customers: Customers) -> str:
    """The live epoch new data keys go under (a new one when every live epoch is full)."""
    async with customers.database.connection() as conn:
        epoch = await store.epoch_with_room(conn, customers.settings.epoch_capacity)
    if epoch is not None:
        return epoch
    epoch = await open_pending(customers)
    async with customers.database.connection() as conn, conn.transaction():
        await store.epoch_activate(conn, epoch)
    return epoch


async def destroy(customers: Customers, epochs: list[str]) -> None:
    for epoch in epochs:
        await asyncio.to_thread(customers.vault.epochs.destroy, epoch)


async def sweep(customers: Customers) -> int:
    """Destroy the KMS keys of retired (and abandoned pending) epochs; how many."""
    async with customers.database.connection() as conn, conn.transaction():
        retired = await store.epochs_to_destroy(conn, GRACE)
    present = set(await asyncio.to_thread(customers.vault.epochs.kms.names))
    gone = [e for e in retired if e in present]
    await destroy(customers, gone)
    return len(gone)


async def upgrade_legacy(customers: Customers, settings: Settings) -> int:
    """Move data keys wrapped by a legacy master key into epochs, then retire the master keys
    from the key file: while they exist, WAL or a backup holding a master-wrapped key would
    still open a customer erased later. Idempotent; safe with several processes at once."""
    vault = customers.vault
    moved_total = 0
    while True:
        async with customers.database.connection() as conn:
            batch = await store.legacy_keys(conn, UPGRADE_BATCH)
        if not batch:
            break
        epoch = await for_new_keys(customers)
        moved = [
            (k, vault.rewrap(str(k.customer_id), SealedKey(k.key_id, k.wrapped), epoch).wrapped)
            for k in batch
        ]
        async with customers.database.connection() as conn, conn.transaction():
            moved_total += await store.adopt(conn, epoch, moved)
        if len(batch) < UPGRADE_BATCH:
            break
    if vault.keys.ring is not None:
        async with customers.database.connection() as conn:
            left = await store.legacy_keys(conn, 1)
        if not left:
            removed = await asyncio.to_thread(keyfile.retire_master_keys, settings)
            if removed:
                log.warning(
                    "legacy master keys retired from the key file: %s (backups taken before "
                    "the upgrade to key epochs no longer open)",
                    ", ".join(removed),
                )
            elif vault.keys.source == "settings":
                log.warning(
                    "every data key is in a key epoch: remove CAUDAL_CUSTOMERS__MASTER_KEYS "
                    "from your settings and secret manager"
                )
    if moved_total:
        log.info("moved %d legacy data key(s) into key epochs", moved_total)
    return moved_total
