"""Sealing and opening customer documents: envelope encryption plus the blind indexes.

Data keys are wrapped by epoch keys (`epochs.py`, material in the KMS). Keys still wrapped by a
legacy master key of the key file open until the startup upgrade moves them into an epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from caudal.customers.base_a import profile
from caudal.customers.crypto import blind, envelope
from caudal.customers.crypto.epochs import EpochKeys, is_epoch
from caudal.customers.crypto.keyfile import CustomerKeys

_PURPOSE = "profile"


@dataclass(frozen=True)
class SealedKey:
    key_id: str
    wrapped: bytes


class Vault:
    def __init__(
        self,
        keys: CustomerKeys,
        epochs: EpochKeys,
        reload: Callable[[], CustomerKeys] | None = None,
    ) -> None:
        self.keys = keys
        self.epochs = epochs
        self._reload = reload

    def cpf_index(self, cpf_digits: str) -> bytes:
        return blind.cpf_index(self.keys.index_key, cpf_digits)

    def name_indexes(self, name: str) -> list[bytes]:
        return blind.name_token_indexes(self.keys.index_key, name)

    def pseudonym(self, customer_id: str) -> str:
        return blind.pseudonym(self.keys.index_key, customer_id)

    def new_key(self, customer_id: str, epoch: str) -> tuple[SealedKey, bytes]:
        """A fresh data key for a customer: (its wrapped form to store, the clear key)."""
        data_key = envelope.new_data_key()
        return self.wrap(customer_id, data_key, epoch), data_key

    def wrap(self, customer_id: str, data_key: bytes, epoch: str) -> SealedKey:
        return SealedKey(epoch, self.epochs.wrap(epoch, data_key, customer_id))

    def data_key(self, customer_id: str, sealed_key: SealedKey) -> bytes:
        if is_epoch(sealed_key.key_id):
            return self.epochs.unwrap(sealed_key.key_id, sealed_key.wrapped, customer_id)
        ring = self.keys.ring
        if (ring is None or sealed_key.key_id not in ring.keys) and self._reload is not None:
            self.keys = self._reload()
            ring = self.keys.ring
        if ring is None:
            raise envelope.DecryptionFailed(f"master key '{sealed_key.key_id}' was retired")
        return ring.unwrap(sealed_key.key_id, sealed_key.wrapped, customer_id)

    def seal(self, customer_id: str, data_key: bytes, document: dict[str, Any]) -> bytes:
        return envelope.seal(
            data_key, profile.encode(document), envelope.record_aad(customer_id, _PURPOSE)
        )

    def open(self, customer_id: str, sealed_key: SealedKey, sealed: bytes) -> dict[str, Any]:
        data_key = self.data_key(customer_id, sealed_key)
        raw = envelope.open_sealed(data_key, sealed, envelope.record_aad(customer_id, _PURPOSE))
        return profile.decode(raw)

    def rewrap(self, customer_id: str, sealed_key: SealedKey, epoch: str) -> SealedKey:
        """The same data key wrapped under another epoch (erasure of an epoch-mate, rotation,
        upgrade from a master key); the PII itself is not re-encrypted."""
        return self.wrap(customer_id, self.data_key(customer_id, sealed_key), epoch)
