"""The HTTP edge's generated trace keys: what `uuid.uuid4().hex` wrote, made without the object."""

from __future__ import annotations

import os
import uuid
from unittest.mock import patch

from hypothesis import given
from hypothesis import strategies as st

from caudal.platform.uuid_text import random_hex, random_uuids


def test_generated_trace_keys_are_random_version_4_uuids_in_hex() -> None:
    keys = [random_hex() for _ in range(2_000)]
    assert len(set(keys)) == 2_000
    for text in keys:
        parsed = uuid.UUID(hex=text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert parsed.hex == text  # 32 lowercase hex digits, no hyphens


@given(st.binary(min_size=16, max_size=16 * 5).filter(lambda b: len(b) % 16 == 0))
def test_fresh_event_ids_are_what_uuid4_makes_of_the_same_random_bytes(random: bytes) -> None:
    with patch.object(os, "urandom", lambda size: random[:size]):
        made = random_uuids(len(random) // 16)
    chunks = [random[at : at + 16] for at in range(0, len(random), 16)]
    assert made == [str(uuid.UUID(bytes=chunk, version=4)) for chunk in chunks]
