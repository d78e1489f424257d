"""Sealing and opening customer documents: envelope encryption plus the blind indexes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from caudal.customers.base_a import profile
from caudal.customers.crypto import blind, envelope
from caudal.customers.crypto.keyfile import CustomerKeys

_PURPOSE = "profile"


@dataclass(frozen=True)
class SealedKey:
    key_id: str
    wrapped: bytes


class Vault:
    def __init__(
        self, keys: CustomerKeys, reload: Callable[[], CustomerKeys] | None = None
    ) -> None:
        self.keys = keys
        self._reload = reload

    def cpf_index(self, cpf_digits: str) -> bytes:
        return blind.cpf_index(self.keys.index_key, cpf_digits)

    def name_indexes(self, name: str) -> list[bytes]:
        return blind.name_token_indexes(self.keys.index_key, name)

    def pseudonym(self, customer_id: str) -> str:
        return blind.pseudonym(self.keys.index_key, customer_id)

    def new_key(self, customer_id: str) -> tuple[SealedKey, bytes]:
        """A fresh data key for a customer: (its wrapped form to store, the clear key)."""
        data_key = envelope.new_data_key()
        key_id, wrapped = self.keys.ring.wrap(data_key, customer_id)
        return SealedKey(key_id, wrapped), data_key

    def data_key(self, customer_id: str, sealed_key: SealedKey) -> bytes:
        if sealed_key.key_id not in self.keys.ring.keys and self._reload is not None:
            # `caudal keys rotate` ran in another process: pick up the new master key.
            self.keys = self._reload()
        return self.keys.ring.unwrap(sealed_key.key_id, sealed_key.wrapped, customer_id)

    def seal(self, customer_id: str, data_key: bytes, document: dict[str, Any]) -> bytes:
        return envelope.seal(
            data_key, profile.encode(document), envelope.record_aad(customer_id, _PURPOSE)
        )

    def open(self, customer_id: str, sealed_key: SealedKey, sealed: bytes) -> dict[str, Any]:
        data_key = self.data_key(customer_id, sealed_key)
        raw = envelope.open_sealed(data_key, sealed, envelope.record_aad(customer_id, _PURPOSE))
        return profile.decode(raw)

    def rewrap(self, customer_id: str, sealed_key: SealedKey) -> SealedKey:
        """The same data key wrapped under the active master key (key rotation)."""
        data_key = self.data_key(customer_id, sealed_key)
        key_id, wrapped = self.keys.ring.wrap(data_key, customer_id)
        return SealedKey(key_id, wrapped)
