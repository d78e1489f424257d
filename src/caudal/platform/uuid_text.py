"""UUIDs straight to their text, without `uuid.UUID` objects: the ingestion path makes one per
event and the posting engine one per callback, and building the object then `str()` of it cost
more than the rest of making those events (bench/profiles/README.md). The text is exactly what
`str(uuid.uuid4())` / `str(uuid.uuid5(ns, name))` write; unit tests hold both to the standard
library."""

from __future__ import annotations

import hashlib
import os
import uuid


def _stamped(raw: bytearray, version: int) -> bytearray:
    """16 bytes with the version and RFC 4122 variant bits of a version-`version` UUID."""
    raw[6] = (raw[6] & 0x0F) | (version << 4)
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw


def _text(raw: bytearray, version: int) -> str:
    """16 bytes as a version-`version`, RFC 4122 UUID in its hyphenated lowercase text."""
    h = _stamped(raw, version).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def random_hex() -> str:
    """`uuid.uuid4().hex`: the HTTP edge's trace key for every request that brings none."""
    return _stamped(bytearray(os.urandom(16)), 4).hex()


def random_uuids(count: int) -> list[str]:
    """`count` fresh `uuid4()` texts from one read of the system's random source."""
    random = os.urandom(16 * count)
    return [_text(bytearray(random[at : at + 16]), 4) for at in range(0, 16 * count, 16)]


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))`."""
    digest = hashlib.sha1(namespace.bytes + name.encode(), usedforsecurity=False).digest()
    return _text(bytearray(digest[:16]), 5)
