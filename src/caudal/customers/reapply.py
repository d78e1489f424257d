"""The erasure log after a backup restore: export it before restoring, re-apply it after.

A restored backup predates some erasures: their customers are back (sealed, under epoch keys
the KMS no longer has, so unreadable, but present), their events are back in realtime, the
bus and the lake, and their epoch-mates' data keys are wrapped under those destroyed
epoch keys. Re-applying the log in order erases the customers again (tombstones, Bases B and C,
derived copies, lake files) and puts back each mate's data key as re-wrapped under the new epoch
(the log holds those wrapped keys: ciphertext, useless without the KMS).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row

from caudal.customers.base_c import store as base_c_store
from caudal.customers.derived_erasure import DerivedCopies
from caudal.events.erasure_barrier_postgres import Recorded
from caudal.platform.db.pool import AsyncConn

SELECT_LOG = """
SELECT erasure_id, at, customer_id, cpf_index, old_epoch, new_epoch, rekeyed_ids,
       rekeyed_wrapped
  FROM audit.erasures ORDER BY at, id
"""
INSERT_LOG = """
INSERT INTO audit.erasures
    (erasure_id, at, customer_id, cpf_index, old_epoch, new_epoch, rekeyed_ids, rekeyed_wrapped)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (erasure_id) DO NOTHING
"""
ENSURE_EPOCH = """
INSERT INTO base_a.key_epochs (id, state) VALUES (%s, 'live')
ON CONFLICT (id) DO UPDATE SET state = 'live', retired_at = NULL
 WHERE base_a.key_epochs.state = 'pending'
"""
MOVE_MATES = """
UPDATE base_a.data_keys k SET key_id = %s, wrapped = n.wrapped, rotated_at = now()
  FROM unnest(%s::uuid[], %s::bytea[]) AS n(id, wrapped)
 WHERE k.customer_id = n.id AND k.key_id = %s
"""
RETIRE_EPOCH = """
UPDATE base_a.key_epochs SET state = 'retired', retired_at = coalesce(retired_at, now())
 WHERE id = %s
"""
ERASE_CUSTOMER = [
    "DELETE FROM base_a.data_keys WHERE customer_id = %(id)s",
    "DELETE FROM base_a.name_tokens WHERE customer_id = %(id)s",
    "UPDATE base_a.customers SET cpf_index = NULL, profile = NULL,"
    " erased_at = coalesce(erased_at, %(at)s), updated_at = now() WHERE id = %(id)s",
    "DELETE FROM base_b.score_data WHERE customer_id = %(id)s",
]


@dataclass(frozen=True)
class Erasure:
    erasure_id: uuid.UUID
    at: datetime
    customer_id: uuid.UUID | None
    cpf_index: bytes | None
    old_epoch: str | None
    new_epoch: str | None
    rekeyed_ids: list[uuid.UUID]
    rekeyed_wrapped: list[bytes]

    def to_json(self) -> str:
        return json.dumps(
            {
                "erasure_id": str(self.erasure_id),
                "at": self.at.isoformat(),
                "customer_id": str(self.customer_id) if self.customer_id else None,
                "cpf_index": self.cpf_index.hex() if self.cpf_index else None,
                "old_epoch": self.old_epoch,
                "new_epoch": self.new_epoch,
                "rekeyed_ids": [str(i) for i in self.rekeyed_ids],
                "rekeyed_wrapped": [base64.b64encode(w).decode() for w in self.rekeyed_wrapped],
            }
        )

    @classmethod
    def from_json(cls, line: str) -> Erasure:
        raw: dict[str, Any] = json.loads(line)
        return cls(
            erasure_id=uuid.UUID(raw["erasure_id"]),
            at=datetime.fromisoformat(raw["at"]),
            customer_id=uuid.UUID(raw["customer_id"]) if raw["customer_id"] else None,
            cpf_index=bytes.fromhex(raw["cpf_index"]) if raw["cpf_index"] else None,
            old_epoch=raw["old_epoch"],
            new_epoch=raw["new_epoch"],
            rekeyed_ids=[uuid.UUID(i) for i in raw["rekeyed_ids"]],
            rekeyed_wrapped=[base64.b64decode(w) for w in raw["rekeyed_wrapped"]],
        )


async def read_log(conn: AsyncConn) -> list[Erasure]:
    cur = conn.cursor(row_factory=class_row(Erasure))
    await cur.execute(SELECT_LOG)
    return await cur.fetchall()


async def reapply(
    conn: AsyncConn, copies: DerivedCopies, entries: list[Erasure]
) -> tuple[int, list[str]]:
    """Re-apply every entry in order (owner connection); (customers erased, epochs to destroy
    in the KMS). Idempotent: running it twice changes nothing more."""
    erased = 0
    retired: list[str] = []
    tokens: dict[str, Recorded] = {}
    for e in sorted(entries, key=lambda x: x.at):
        # at its own time, not now: copies received since (a customer registered again) stay
        recorded = await copies.bar(conn, {e.cpf_index.hex(): e.at}) if e.cpf_index else {}
        async with conn.transaction():
            await conn.execute(
                INSERT_LOG,
                (
                    e.erasure_id,
                    e.at,
                    e.customer_id,
                    e.cpf_index,
                    e.old_epoch,
                    e.new_epoch,
                    e.rekeyed_ids,
                    e.rekeyed_wrapped,
                ),
            )
            if e.old_epoch and e.new_epoch:
                await conn.execute(ENSURE_EPOCH, (e.new_epoch,))
                await conn.execute(
                    MOVE_MATES, (e.new_epoch, e.rekeyed_ids, e.rekeyed_wrapped, e.old_epoch)
                )
                await conn.execute(RETIRE_EPOCH, (e.old_epoch,))
                retired.append(e.old_epoch)
            if e.customer_id is not None:
                for sql in ERASE_CUSTOMER:
                    await conn.execute(sql, {"id": e.customer_id, "at": e.at})
                erased += 1
            if recorded:
                await base_c_store.erase(conn, {bytes.fromhex(t): r for t, r in recorded.items()})
                await copies.erase_in_database(conn, recorded)
                tokens |= recorded
    await copies.erase_lake(conn, tokens)
    return erased, retired
