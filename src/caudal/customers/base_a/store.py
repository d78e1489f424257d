"""Base A through its SECURITY DEFINER functions (the app role has no table privilege).

Rows come back typed (`class_row`): a function's column order can change without silently
shifting fields.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg.rows import class_row

from caudal.customers.crypto.vault import SealedKey
from caudal.platform.db.pool import AsyncConn

GET = "SELECT * FROM base_a.customer_get(%s)"
BY_CPF = "SELECT * FROM base_a.customer_by_cpf(%s)"
IDS_BY_CPF = "SELECT cpf_index, id FROM base_a.customer_ids_by_cpf(%s)"
SEARCH = "SELECT * FROM base_a.customer_search(%s, %s, %s, %s)"
SAVE = "SELECT base_a.customer_save(%s, %s, %s, %s, %s, %s) AS created"
ERASE_BEGIN = "SELECT epoch, customer_id, wrapped FROM base_a.customer_erase_begin(%s)"
ERASE_REKEYED = "SELECT base_a.customer_erase_rekeyed(%s, %s, %s, %s, %s, %s) AS cpf_index"
EPOCH_WITH_ROOM = "SELECT base_a.epoch_with_room(%s) AS epoch"
EPOCH_PENDING = "SELECT base_a.epoch_pending(%s)"
EPOCH_ACTIVATE = "SELECT base_a.epoch_activate(%s)"
EPOCHS_TO_DESTROY = "SELECT epoch FROM base_a.epochs_to_destroy(%s) AS epoch"
LEGACY_KEYS = "SELECT customer_id, key_id, wrapped FROM base_a.legacy_data_keys(%s)"
ADOPT = "SELECT base_a.epoch_adopt(%s, %s, %s, %s) AS moved"
MAX_PAGE = 100  # customer_search never returns more


@dataclass(frozen=True)
class SealedRow:
    """A row of `base_a.sealed_customer` (and of customer_search, plus `total`)."""

    id: uuid.UUID | None
    cpf_index: bytes | None
    profile: bytes | None
    key_id: str | None
    wrapped: bytes | None
    created_at: datetime | None
    updated_at: datetime | None
    erased_at: datetime | None
    total: int | None = None


@dataclass(frozen=True)
class SealedCustomer:
    id: str
    cpf_index: bytes | None
    profile: bytes | None
    key: SealedKey | None
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None

    @property
    def erased(self) -> bool:
        return self.erased_at is not None or self.key is None or self.profile is None


@dataclass(frozen=True)
class EpochMember:
    """A data key of the epoch being re-keyed (`wrapped` None: no key or a legacy one)."""

    epoch: str | None
    customer_id: uuid.UUID
    wrapped: bytes | None


@dataclass(frozen=True)
class LegacyKey:
    customer_id: uuid.UUID
    key_id: str
    wrapped: bytes


@dataclass(frozen=True)
class IdByCpf:
    cpf_index: bytes
    id: uuid.UUID


def _customer(r: SealedRow) -> SealedCustomer:
    assert r.id is not None and r.created_at is not None and r.updated_at is not None
    key = SealedKey(r.key_id, r.wrapped) if r.key_id is not None and r.wrapped else None
    return SealedCustomer(
        id=str(r.id),
        cpf_index=r.cpf_index,
        profile=r.profile,
        key=key,
        created_at=r.created_at,
        updated_at=r.updated_at,
        erased_at=r.erased_at,
    )


async def _one_customer(conn: AsyncConn, query: str, arg: object) -> SealedCustomer | None:
    cur = conn.cursor(row_factory=class_row(SealedRow))
    await cur.execute(query, (arg,))
    row = await cur.fetchone()
    return _customer(row) if row is not None else None


async def get(conn: AsyncConn, customer_id: str) -> SealedCustomer | None:
    return await _one_customer(conn, GET, customer_id)


async def by_cpf(conn: AsyncConn, cpf_index: bytes) -> SealedCustomer | None:
    return await _one_customer(conn, BY_CPF, cpf_index)


async def ids_by_cpf(conn: AsyncConn, cpf_indexes: list[bytes]) -> dict[bytes, str]:
    if not cpf_indexes:
        return {}
    cur = conn.cursor(row_factory=class_row(IdByCpf))
    await cur.execute(IDS_BY_CPF, (cpf_indexes,))
    return {r.cpf_index: str(r.id) for r in await cur.fetchall()}


async def search(
    conn: AsyncConn,
    cpf_index: bytes | None,
    tokens: list[bytes],
    limit: int,
    offset: int,
) -> tuple[int, list[SealedCustomer]]:
    cur = conn.cursor(row_factory=class_row(SealedRow))
    await cur.execute(SEARCH, (cpf_index, tokens, min(limit, MAX_PAGE), offset))
    rows = await cur.fetchall()
    total = int(rows[0].total or 0) if rows else 0
    return total, [_customer(r) for r in rows if r.id is not None]


async def save(
    conn: AsyncConn,
    customer_id: str,
    cpf_index: bytes,
    sealed_profile: bytes,
    key: SealedKey,
    tokens: list[bytes],
) -> bool:
    """Insert (with the wrapped data key) or replace the profile; True when created."""
    cur = await conn.execute(
        SAVE, (customer_id, cpf_index, sealed_profile, key.key_id, key.wrapped, tokens)
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def erase_begin(conn: AsyncConn, customer_id: str) -> list[EpochMember]:
    """Lock the customer and its epoch; every data key of that epoch. Empty: nothing to erase."""
    cur = conn.cursor(row_factory=class_row(EpochMember))
    await cur.execute(ERASE_BEGIN, (customer_id,))
    return await cur.fetchall()


async def erase_rekeyed(
    conn: AsyncConn,
    customer_id: str,
    old_epoch: str | None,
    new_epoch: str | None,
    rekeyed: list[tuple[str, bytes]],
    erasure_id: str,
) -> bytes | None:
    """Erase one customer after its epoch-mates were re-wrapped under `new_epoch`; the CPF index
    it had, or None if there was nothing to erase."""
    cur = await conn.execute(
        ERASE_REKEYED,
        (
            customer_id,
            old_epoch,
            new_epoch,
            [cid for cid, _ in rekeyed],
            [w for _, w in rekeyed],
            erasure_id,
        ),
    )
    row = await cur.fetchone()
    return bytes(row[0]) if row is not None and row[0] is not None else None


async def epoch_with_room(conn: AsyncConn, capacity: int) -> str | None:
    cur = await conn.execute(EPOCH_WITH_ROOM, (capacity,))
    row = await cur.fetchone()
    return str(row[0]) if row is not None and row[0] is not None else None


async def epoch_pending(conn: AsyncConn, epoch: str) -> None:
    await conn.execute(EPOCH_PENDING, (epoch,))


async def epoch_activate(conn: AsyncConn, epoch: str) -> None:
    await conn.execute(EPOCH_ACTIVATE, (epoch,))


async def epochs_to_destroy(conn: AsyncConn, grace: timedelta) -> list[str]:
    cur = await conn.execute(EPOCHS_TO_DESTROY, (grace,))
    return [str(r[0]) for r in await cur.fetchall()]


async def legacy_keys(conn: AsyncConn, limit: int) -> list[LegacyKey]:
    cur = conn.cursor(row_factory=class_row(LegacyKey))
    await cur.execute(LEGACY_KEYS, (limit,))
    return await cur.fetchall()


async def adopt(conn: AsyncConn, epoch: str, moved: list[tuple[LegacyKey, bytes]]) -> int:
    cur = await conn.execute(
        ADOPT,
        (
            epoch,
            [k.customer_id for k, _ in moved],
            [k.key_id for k, _ in moved],
            [w for _, w in moved],
        ),
    )
    row = await cur.fetchone()
    return int(row[0]) if row is not None else 0
