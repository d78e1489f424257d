"""Base A use cases: create/update by CPF, read, list, debts, erasure. Each is one transaction
holding the write, its audit row and its bus event (outbox)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from caudal.customers import audit, events
from caudal.customers.audit import Actor
from caudal.customers.base_a import key_epochs, profile, store
from caudal.customers.base_a.store import SealedCustomer
from caudal.customers.context import Customers
from caudal.customers.crypto.envelope import DecryptionFailed
from caudal.customers.crypto.epochs import is_epoch
from caudal.customers.crypto.vault import SealedKey
from caudal.customers.validation import Cliente, Divida
from caudal.platform.db.pool import AsyncConn
from caudal.platform.errors import CaudalError, conflict, not_found, validation_error

EPOCH_RACE_ATTEMPTS = 3


def customer_not_found() -> CaudalError:
    return not_found("customer", "CAU-CUSTOMERS-NOT-FOUND")


def customer_erased() -> CaudalError:
    return CaudalError(
        code="CAU-CUSTOMERS-ERASED",
        detail="this customer was erased; the data no longer exists",
        status=410,
        title="Gone",
    )


def valid_id(customer_id: str) -> str:
    try:
        return str(uuid.UUID(customer_id))
    except ValueError:
        raise validation_error("id", "CAU-CUSTOMERS-INVALID-ID", "must be a UUID") from None


def open_document(customers: Customers, sealed: SealedCustomer) -> dict[str, Any]:
    if sealed.erased or sealed.key is None or sealed.profile is None:
        raise customer_erased()
    try:
        return customers.vault.open(sealed.id, sealed.key, sealed.profile)
    except DecryptionFailed:
        raise customer_erased() from None


async def load(
    customers: Customers, conn: AsyncConn, customer_id: str
) -> tuple[SealedCustomer, dict[str, Any]]:
    sealed = await store.get(conn, valid_id(customer_id))
    if sealed is None:
        raise customer_not_found()
    return sealed, open_document(customers, sealed)


async def upsert(customers: Customers, actor: Actor, cliente: Cliente) -> tuple[bool, str]:
    """Create the customer, or update the one with this CPF. (created, customer id)."""
    for attempt in range(1, EPOCH_RACE_ATTEMPTS + 1):
        try:
            return await _upsert(customers, actor, cliente)
        except psycopg.errors.SerializationFailure:
            # the epoch chosen was re-keyed by an erasure meanwhile: take the new one
            if attempt == EPOCH_RACE_ATTEMPTS:
                raise conflict(
                    "customer keys are being re-keyed; retry", "CAU-CUSTOMERS-CONCURRENT-WRITE"
                ) from None
    raise AssertionError("unreachable")


async def _upsert(customers: Customers, actor: Actor, cliente: Cliente) -> tuple[bool, str]:
    vault = customers.vault
    cpf_index = vault.cpf_index(cliente.cpf)
    epoch = await key_epochs.for_new_keys(customers)
    try:
        async with customers.database.connection() as conn, conn.transaction():
            existing = await store.by_cpf(conn, cpf_index)
            if existing is not None and existing.key is not None:
                customer_id, key = existing.id, existing.key
                data_key = vault.data_key(customer_id, key)
            else:
                customer_id = str(uuid.uuid4())
                key, data_key = vault.new_key(customer_id, epoch)
            document = profile.to_document(cliente)
            created = await store.save(
                conn,
                customer_id,
                cpf_index,
                vault.seal(customer_id, data_key, document),
                key,
                vault.name_indexes(cliente.nome),
            )
            action = "customers.create" if created else "customers.update"
            await audit.record(conn, actor, action, customer_id)
            await customers.bus.publish(
                [
                    events.customer_event(
                        events.CREATED if created else events.UPDATED,
                        customer_id,
                        cpf_index,
                        actor.trace_key,
                    )
                ],
                conn=conn,
            )
    except psycopg.errors.UniqueViolation:
        raise conflict(
            "another request is writing a customer with this CPF; retry",
            "CAU-CUSTOMERS-CONCURRENT-WRITE",
        ) from None
    if not created:
        await customers.cache.invalidate([customer_id])
    return created, customer_id


async def read(customers: Customers, actor: Actor, customer_id: str) -> dict[str, Any]:
    customer_id = valid_id(customer_id)
    failure: CaudalError | None = None
    document: dict[str, Any] = {}
    async with customers.database.connection() as conn, conn.transaction():
        try:
            _, document = await load(customers, conn, customer_id)
        except CaudalError as error:
            failure = error  # audited too: the attempt is a fact worth keeping
        detail = {"outcome": failure.code} if failure is not None else None
        await audit.record(conn, actor, "customers.read", customer_id, detail)
    if failure is not None:
        raise failure
    return {"id": customer_id, **document}


async def search(
    customers: Customers,
    actor: Actor,
    *,
    nome: str | None,
    cpf_digits: str | None,
    page: int,
    page_size: int,
) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    vault = customers.vault
    tokens = vault.name_indexes(nome) if nome else []
    if nome and not tokens:
        return 0, []
    cpf_index = vault.cpf_index(cpf_digits) if cpf_digits else None
    async with customers.database.connection() as conn, conn.transaction():
        total, rows = await store.search(conn, cpf_index, tokens, page_size, (page - 1) * page_size)
        found = [(row.id, open_document(customers, row)) for row in rows]
        filters = [name for name, v in (("nome", nome), ("cpf", cpf_digits)) if v]
        await audit.record(
            conn,
            actor,
            "customers.list",
            None,
            {"filters": filters, "page": page, "results": len(found), "count": total},
        )
        await audit.record_many(conn, actor, "customers.read", [cid for cid, _ in found])
    return total, found


async def _rewrite(
    customers: Customers,
    actor: Actor,
    customer_id: str,
    action: str,
    change: Any,
) -> dict[str, Any]:
    """Decrypt, change the document with `change(document)`, re-seal, audit and publish."""
    vault = customers.vault
    async with customers.database.connection() as conn, conn.transaction():
        sealed, document = await load(customers, conn, customer_id)
        assert sealed.key is not None and sealed.cpf_index is not None
        change(document)
        data_key = vault.data_key(sealed.id, sealed.key)
        await store.save(
            conn,
            sealed.id,
            sealed.cpf_index,
            vault.seal(sealed.id, data_key, document),
            sealed.key,
            vault.name_indexes(str(document["nome"])),
        )
        await audit.record(conn, actor, action, sealed.id)
        await customers.bus.publish(
            [
                events.customer_event(
                    events.UPDATED, sealed.id, sealed.cpf_index, actor.trace_key, change="dividas"
                )
            ],
            conn=conn,
        )
    await customers.cache.invalidate([sealed.id])
    return {"id": sealed.id, **document}


async def add_debt(
    customers: Customers, actor: Actor, customer_id: str, divida: Divida
) -> dict[str, Any]:
    def change(document: dict[str, Any]) -> None:
        document.setdefault("dividas", []).append(profile.divida_document(divida))

    return await _rewrite(customers, actor, customer_id, "customers.dividas.add", change)


async def remove_debt(
    customers: Customers, actor: Actor, customer_id: str, index: int
) -> dict[str, Any]:
    def change(document: dict[str, Any]) -> None:
        debts = document.setdefault("dividas", [])
        if not 0 <= index < len(debts):
            raise not_found("debt", "CAU-CUSTOMERS-DEBT-NOT-FOUND")
        del debts[index]

    return await _rewrite(customers, actor, customer_id, "customers.dividas.remove", change)


async def erase(customers: Customers, actor: Actor, customer_id: str) -> None:
    """Erase one customer so that no copy of its record ever opens again: its epoch-mates' data
    keys move to a fresh epoch and the old epoch key is destroyed in the KMS after the commit
    (dead tuples, WAL and backups held the erased key only under that epoch key). Bases B and C
    and the derived copies of its events go when `customers.erased` reaches the
    `customers.activity` sink."""
    customer_id = valid_id(customer_id)
    for attempt in range(1, EPOCH_RACE_ATTEMPTS + 1):
        try:
            retired = await _erase(customers, actor, customer_id)
            break
        except psycopg.errors.SerializationFailure:
            if attempt == EPOCH_RACE_ATTEMPTS:
                raise conflict(
                    "customer keys are being re-keyed; retry", "CAU-CUSTOMERS-CONCURRENT-WRITE"
                ) from None
    await key_epochs.destroy(customers, retired)
    await key_epochs.sweep(customers)  # epochs an earlier crash left behind
    await customers.cache.invalidate([customer_id])


async def _erase(customers: Customers, actor: Actor, customer_id: str) -> list[str]:
    """One attempt; the epochs to destroy once committed."""
    vault = customers.vault
    async with customers.database.connection() as conn:
        sealed = await store.get(conn, customer_id)
    if sealed is None:
        raise customer_not_found()
    # no new epoch (nor KMS key) for a customer already erased: repeated DELETEs cost nothing
    live = sealed.erased_at is None
    new_epoch = await key_epochs.open_pending(customers) if live else None
    async with customers.database.connection() as conn, conn.transaction():
        members = await store.erase_begin(conn, customer_id) if new_epoch is not None else []
        old_epoch = members[0].epoch if members else None
        cpf_index: bytes | None = None
        if members and new_epoch is not None:
            rekeyed = [
                (
                    str(m.customer_id),
                    vault.rewrap(
                        str(m.customer_id), SealedKey(old_epoch, m.wrapped), new_epoch
                    ).wrapped,
                )
                for m in members
                if old_epoch is not None
                and is_epoch(old_epoch)
                and m.wrapped is not None
                and str(m.customer_id) != customer_id
            ]
            rekeying = old_epoch is not None and is_epoch(old_epoch)
            cpf_index = await store.erase_rekeyed(
                conn,
                customer_id,
                old_epoch if rekeying else None,
                new_epoch if rekeying else None,
                rekeyed,
                str(uuid.uuid4()),
            )
        await audit.record(
            conn,
            actor,
            "customers.erase",
            customer_id,
            {"outcome": "erased" if cpf_index is not None else "already-erased"},
        )
        if cpf_index is not None:
            await customers.bus.publish(
                [events.customer_event(events.ERASED, customer_id, cpf_index, actor.trace_key)],
                conn=conn,
            )
    if old_epoch is not None and is_epoch(old_epoch) and cpf_index is not None:
        return [old_epoch]
    return []  # the pending epoch was not used: the sweeper retires it after its grace
