"""Epoch keys: the key-encryption keys of the customers' data keys, held in the KMS.

A data key is wrapped (AES-256-GCM, bound to its customer) by the key of its epoch; the wrapped
key's `key_id` is the epoch key's KMS name. Destroying an epoch key in the KMS makes every copy of
every data key wrapped by it unreadable, wherever the copy sits (WAL, dead tuples, backups).
"""

from __future__ import annotations

import secrets

from caudal.customers.crypto import envelope
from caudal.platform.kms import KeyManager

PREFIX = "customers-epoch-"


def is_epoch(key_id: str) -> bool:
    return key_id.startswith(PREFIX)


def new_epoch_id() -> str:
    return PREFIX + secrets.token_hex(16)


class EpochKeys:
    """Epoch keys fetched from the KMS once per process (a destroyed epoch wraps nothing that is
    still stored, so a cached copy of it opens nothing new)."""

    def __init__(self, kms: KeyManager) -> None:
        self.kms = kms
        self._cache: dict[str, bytes] = {}

    def key(self, epoch: str) -> bytes:
        key = self._cache.get(epoch)
        if key is None:
            key = self.kms.get(epoch)
            if key is None:
                raise envelope.DecryptionFailed(f"key epoch '{epoch}' no longer exists")
            self._cache[epoch] = key
        return key

    def create(self, epoch: str) -> None:
        self._cache[epoch] = self.kms.create(epoch)

    def destroy(self, epoch: str) -> None:
        self._cache.pop(epoch, None)
        self.kms.destroy(epoch)

    def wrap(self, epoch: str, data_key: bytes, customer_id: str) -> bytes:
        return envelope.seal(self.key(epoch), data_key, envelope.wrap_aad(customer_id))

    def unwrap(self, epoch: str, wrapped: bytes, customer_id: str) -> bytes:
        return envelope.open_sealed(self.key(epoch), wrapped, envelope.wrap_aad(customer_id))
