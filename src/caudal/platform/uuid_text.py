"""UUIDs straight to their text, without `uuid.UUID` objects: the ingestion path makes one per
event and the posting engine one per callback, and building the object then `str()` of it cost
more than the rest of making those events (bench/profiles/README.md). The text is exactly what
`str(uuid.uuid4())` / `str(uuid.uuid5(ns, name))` write; unit tests hold both to the standard
library."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import Iterable
from typing import Any


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


# The first hex digit of a byte whose two top bits become the RFC 4122 variant (`10`).
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def random_uuids(count: int) -> list[str]:
    """`count` fresh `uuid4()` texts from one read of the system's random source, stamped in
    the hex text itself (the version digit written, the variant digit looked up): ~40 % less
    than stamping each 16 bytes first, and the ingestion path makes one per event."""
    h = os.urandom(16 * count).hex()
    return [
        f"{h[at : at + 8]}-{h[at + 8 : at + 12]}-4{h[at + 13 : at + 16]}-"
        f"{_VARIANT_DIGIT[h[at + 16]]}{h[at + 17 : at + 20]}-{h[at + 20 : at + 32]}"
        for at in range(0, 32 * count, 32)
    ]


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))`."""
    digest = hashlib.sha1(namespace.bytes + name.encode(), usedforsecurity=False).digest()
    return _text(bytearray(digest[:16]), 5)


def uuid5_texts(namespace: uuid.UUID, prefix: str, names: Iterable[str]) -> list[str]:
    """`[str(uuid.uuid5(namespace, prefix + name)) for name in names]`: the namespace's bytes
    and the prefix encoded once, the version and variant stamped in the hex text (as
    `random_uuids` does), for the posting engine's callback ids (one per posting)."""
    head = namespace.bytes + prefix.encode()
    sha1 = hashlib.sha1
    out = []
    for name in names:
        h = sha1(head + name.encode(), usedforsecurity=False).hexdigest()
        out.append(f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}")
    return out


_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def canonical_uuid(value: Any) -> str:
    """`str(uuid.UUID(str(value)))`: the same text, the same `ValueError` for what it refuses.
    A text already in the canonical form (what the platform writes: the ledger's tracekeys and
    transaction ids on the bus) is its own answer, checked by one match instead of building
    the object (~1.7 of a posting's ~5 µs of payload parsing); anything else goes through
    `uuid.UUID` as before. A unit test compares the two on arbitrary input."""
    if type(value) is str and _CANONICAL.fullmatch(value):
        return value
    return str(uuid.UUID(str(value)))
