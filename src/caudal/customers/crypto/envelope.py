"""AES-256-GCM envelope encryption: one data key per customer, wrapped by a master key.

A sealed value is `version(1) || nonce(12) || ciphertext+tag`. The associated data binds each
ciphertext to its customer and purpose, so a blob copied onto another row does not decrypt.
Destroying a customer's wrapped data key makes every copy of its PII unreadable (crypto-shredding).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE = 12
KEY_BYTES = 32


class DecryptionFailed(ValueError):
    """Wrong key, tampered ciphertext or wrong associated data."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < 1 + _NONCE + 16 or sealed[:1] != _VERSION:
        raise DecryptionFailed("not a sealed value of a known version")
    nonce = sealed[1 : 1 + _NONCE]
    try:
        return AESGCM(key).decrypt(nonce, sealed[1 + _NONCE :], aad)
    except InvalidTag as exc:
        raise DecryptionFailed("authentication failed") from exc


@dataclass(frozen=True)
class MasterKeyRing:
    """Master keys by id; `active` wraps new data keys, the others still unwrap old ones."""

    active: str
    keys: dict[str, bytes]

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise ValueError(f"the active master key '{self.active}' is not in the key ring")
        for key_id, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise ValueError(f"master key '{key_id}' must be {KEY_BYTES} bytes")

    def wrap(self, data_key: bytes, customer_id: str) -> tuple[str, bytes]:
        """(key id, wrapped data key) under the active master key."""
        return self.active, seal(self.keys[self.active], data_key, wrap_aad(customer_id))

    def unwrap(self, key_id: str, wrapped: bytes, customer_id: str) -> bytes:
        key = self.keys.get(key_id)
        if key is None:
            raise DecryptionFailed(f"master key '{key_id}' is not in the key ring")
        return open_sealed(key, wrapped, wrap_aad(customer_id))


def wrap_aad(customer_id: str) -> bytes:
    return b"caudal.customers.data-key:" + customer_id.encode()


def record_aad(customer_id: str, purpose: str) -> bytes:
    return f"caudal.customers.{purpose}:{customer_id}".encode()
