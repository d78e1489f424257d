"""Base A through its SECURITY DEFINER functions (the app role has no table privilege)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from caudal.customers.crypto.vault import SealedKey
from caudal.platform.db.pool import AsyncConn

GET = "SELECT * FROM base_a.customer_get(%s)"
BY_CPF = "SELECT * FROM base_a.customer_by_cpf(%s)"
IDS_BY_CPF = "SELECT cpf_index, id FROM base_a.customer_ids_by_cpf(%s)"
SEARCH = "SELECT * FROM base_a.customer_search(%s, %s, %s, %s)"
SAVE = "SELECT base_a.customer_save(%s, %s, %s, %s, %s, %s)"
ERASE = "SELECT base_a.customer_erase(%s)"
MAX_PAGE = 100  # customer_search never returns more


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


def _row(r: tuple[Any, ...]) -> SealedCustomer:
    key = SealedKey(str(r[3]), bytes(r[4])) if r[3] is not None and r[4] is not None else None
    return SealedCustomer(
        id=str(r[0]),
        cpf_index=bytes(r[1]) if r[1] is not None else None,
        profile=bytes(r[2]) if r[2] is not None else None,
        key=key,
        created_at=r[5],
        updated_at=r[6],
        erased_at=r[7],
    )


async def get(conn: AsyncConn, customer_id: str) -> SealedCustomer | None:
    cur = await conn.execute(GET, (customer_id,))
    row = await cur.fetchone()
    return _row(row) if row is not None else None


async def by_cpf(conn: AsyncConn, cpf_index: bytes) -> SealedCustomer | None:
    cur = await conn.execute(BY_CPF, (cpf_index,))
    row = await cur.fetchone()
    return _row(row) if row is not None else None


async def ids_by_cpf(conn: AsyncConn, cpf_indexes: list[bytes]) -> dict[bytes, str]:
    if not cpf_indexes:
        return {}
    cur = await conn.execute(IDS_BY_CPF, (cpf_indexes,))
    return {bytes(r[0]): str(r[1]) for r in await cur.fetchall()}


async def search(
    conn: AsyncConn,
    cpf_index: bytes | None,
    tokens: list[bytes],
    limit: int,
    offset: int,
) -> tuple[int, list[SealedCustomer]]:
    cur = await conn.execute(SEARCH, (cpf_index, tokens, min(limit, MAX_PAGE), offset))
    rows = await cur.fetchall()
    total = int(str(rows[0][8])) if rows else 0
    return total, [_row(r) for r in rows if r[0] is not None]


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


async def erase(conn: AsyncConn, customer_id: str) -> bytes | None:
    """Crypto-shred one customer; the CPF index it had, or None if there was nothing to erase."""
    cur = await conn.execute(ERASE, (customer_id,))
    row = await cur.fetchone()
    return bytes(row[0]) if row is not None and row[0] is not None else None
