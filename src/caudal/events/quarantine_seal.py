"""Quarantined payloads sealed at rest, with a TTL enforced by crypto-shredding.

An invalid event may hold anything (a CPF in the wrong field, a name in a free-text field), so
its payload is never stored in clear: each entry gets its own random key (AES-256-GCM, bound to
the entry id), wrapped by the key of its UTC day, which lives in the KMS. After the TTL the day
key is destroyed: every payload of that day, in the table, its dead tuples, the WAL and
backups, is unreadable at once, while the metadata (type, reason, code, field) stays listable.

The 64-hex-character strings of the payload (CPF tokens) are kept beside it in clear: they are
already tokens, and they let an erasure find the entries of a customer without opening them.
So are the tokens of the valid CPFs the payload holds in clear (a CPF in a field the intake could
not tokenize: undeclared, free text, a number), computed with the customers' blind index
(`pii.CpfTokenizer`): the CPF itself is only in the sealed payload, and the erasure of its holder
still finds the entry. Entries sealed before those tokens existed are opened and indexed once by
the events retention worker (`retention.py`), while their day key exists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from caudal.events.pii import CpfTokenizer
from caudal.platform.clock import Clock
from caudal.platform.cpf_digits import cpfs_in
from caudal.platform.errors import unavailable
from caudal.platform.kms import KeyExists, KeyManager

PREFIX = "quarantine-day-"
_NONCE = 12
_TOKEN = re.compile(rb"[0-9a-f]{64}")


@dataclass(frozen=True)
class SealedPayload:
    key_epoch: str  # the KMS name of the day key
    wrapped_key: bytes
    sealed: bytes
    tokens: list[str]


def day_key_name(day: datetime) -> str:
    return PREFIX + day.strftime("%Y-%m-%d")


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes | None:
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
    except (InvalidTag, ValueError):
        return None


def _no_tokenizer() -> CpfTokenizer | None:
    return None


class QuarantineSealer:
    def __init__(
        self,
        kms: KeyManager,
        ttl: timedelta,
        clock: Clock,
        cpf_tokens: Callable[[], CpfTokenizer | None] = _no_tokenizer,
    ) -> None:
        """`cpf_tokens`: the CPF tokenizer, looked up when needed (another capability provides
        it, started after this one)."""
        self.kms = kms
        self.ttl = ttl
        self.clock = clock
        self._cpf_tokens = cpf_tokens
        self._days: dict[str, bytes] = {}

    def tokens(self, payload: bytes) -> list[str]:
        """The CPF tokens a payload holds: its 64-hex strings, and the token of each valid CPF
        in it. Refused (503) when it holds a CPF and no tokenizer is started: an entry whose CPF
        no erasure could find is never stored, as the intake never stores an untokenized CPF."""
        found = {t.decode() for t in _TOKEN.findall(payload)}
        # not inside a token: its hex may hold 11 digits that pass for a CPF
        cpfs = cpfs_in(_TOKEN.sub(b" ", payload).decode(errors="replace"))
        if cpfs:
            tokenizer = self._cpf_tokens()
            if tokenizer is None:
                raise unavailable("the CPF tokenizer (customers capability) is not started")
            found |= {tokenizer.cpf_token(cpf) for cpf in cpfs}
        return sorted(found)

    def _day_key(self, name: str) -> bytes:
        key = self._days.get(name)
        if key is None:
            try:
                key = self.kms.create(name)
            except KeyExists:  # another process opened the day first
                found = self.kms.get(name)
                assert found is not None
                key = found
            self._days[name] = key
        return key

    def seal(self, entry_id: str, payload: bytes) -> SealedPayload:
        name = day_key_name(self.clock.now())
        entry_key = AESGCM.generate_key(bit_length=256)
        aad = entry_id.encode()
        return SealedPayload(
            key_epoch=name,
            wrapped_key=_seal(self._day_key(name), entry_key, b"key:" + aad),
            sealed=_seal(entry_key, payload, b"payload:" + aad),
            tokens=self.tokens(payload),
        )

    def open(
        self, entry_id: str, key_epoch: str, wrapped_key: bytes, sealed: bytes
    ) -> bytes | None:
        """The payload, or None once its day key was shredded (TTL) or it does not open."""
        day = self.kms.get(key_epoch)  # never the cache: another process may have shredded it
        if day is None:
            return None
        aad = entry_id.encode()
        entry_key = _open(day, wrapped_key, b"key:" + aad)
        return None if entry_key is None else _open(entry_key, sealed, b"payload:" + aad)

    def shred_expired(self) -> list[str]:
        """Destroy the day keys older than the TTL; their names."""
        cutoff = day_key_name(self.clock.now() - self.ttl)
        expired = [n for n in self.kms.names(PREFIX) if n < cutoff]
        for name in expired:
            self._days.pop(name, None)
            self.kms.destroy(name)
        return expired
