"""The HTTP edge's generated trace keys: what `uuid.uuid4().hex` wrote, made without the object."""

from __future__ import annotations

import uuid

from caudal.platform.uuid_text import random_hex


def test_generated_trace_keys_are_random_version_4_uuids_in_hex() -> None:
    keys = [random_hex() for _ in range(2_000)]
    assert len(set(keys)) == 2_000
    for text in keys:
        parsed = uuid.UUID(hex=text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert parsed.hex == text  # 32 lowercase hex digits, no hyphens
