"""The key-management port: named 256-bit keys whose material lives outside PostgreSQL.

Why a port: erasure destroys key material that must exist nowhere the database's files, WAL or
backups reach. The file adapter (`kms_file.py`, default) keeps each key in its own 0600 file under
CAUDAL_HOME; a cloud KMS or an HSM is another adapter with the same four operations.
"""

from __future__ import annotations

import re
from typing import Protocol

KEY_BYTES = 32
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class KeyExists(ValueError):
    """`create` was asked for a name that already holds a key."""


def valid_name(name: str) -> str:
    """Names become file names or KMS aliases: a fixed, small alphabet."""
    if not _NAME.match(name):
        raise ValueError(f"invalid key name {name!r}")
    return name


class KeyManager(Protocol):
    def create(self, name: str) -> bytes:
        """Generate, store durably and return a new key; KeyExists if the name is taken."""

    def get(self, name: str) -> bytes | None:
        """The key, or None once destroyed (or never created)."""

    def destroy(self, name: str) -> None:
        """Forget the key for good (no-op when absent): whatever it wrapped is unreadable."""

    def names(self, prefix: str = "") -> list[str]:
        """Names of the keys that exist, sorted."""
