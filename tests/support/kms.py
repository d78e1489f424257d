"""A fake of the KMS port (`caudal.platform.kms`) for unit tests."""

from __future__ import annotations

import os

from caudal.platform.kms import KeyExists


class MemoryKms:
    """A fake of the KMS port."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}

    def create(self, name: str) -> bytes:
        if name in self.keys:
            raise KeyExists(name)
        self.keys[name] = os.urandom(32)
        return self.keys[name]

    def get(self, name: str) -> bytes | None:
        return self.keys.get(name)

    def destroy(self, name: str) -> None:
        self.keys.pop(name, None)

    def names(self, prefix: str = "") -> list[str]:
        return sorted(n for n in self.keys if n.startswith(prefix))
