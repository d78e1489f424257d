"""The HTTP edge's generated trace keys: what `uuid.uuid4().hex` wrote, made without the object."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from unittest.mock import patch

from hypothesis import given
from hypothesis import strategies as st

from caudal.platform.uuid_text import canonical_uuid, random_hex, random_uuids, uuid5_texts


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


def _outcome(parse: Callable[[object], str], value: object) -> str | type[Exception]:
    try:
        return parse(value)
    except ValueError:
        return ValueError


def _reference(value: object) -> str:
    return str(uuid.UUID(str(value)))


_UUID_TEXTS = st.uuids().flatmap(
    lambda u: st.sampled_from(
        [str(u), str(u).upper(), u.hex, f"{{{u}}}", f"urn:uuid:{u}", f" {u}", f"{u}\n", str(u)[:-1]]
    )
)


@given(
    st.one_of(
        _UUID_TEXTS,
        st.text(alphabet="0123456789abcdefABCDEF-{}:_ urnid\n\u0660", max_size=45),
        st.text(max_size=40),
        st.integers(),
        st.none(),
        st.uuids(),
    )
)
def test_canonical_uuid_accepts_and_refuses_what_uuid_UUID_did(value: object) -> None:
    assert _outcome(canonical_uuid, value) == _outcome(_reference, value)


def test_canonical_uuid_fast_path_is_only_the_canonical_text() -> None:
    text = "6f1c0f5e-2f55-4a49-9d43-3f3c8a1e0b7d"
    assert canonical_uuid(text) is text
    assert canonical_uuid(text.upper()) == text
    assert canonical_uuid("{" + text + "}") == text
    for refused in (text + "\n", text[:-1], text.replace("-", "_"), "", "None"):
        try:
            canonical_uuid(refused)
        except ValueError:
            continue
        raise AssertionError(f"{refused!r} was accepted")


_NAMES = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=50)


@given(st.uuids(), _NAMES, st.lists(_NAMES, max_size=5))
def test_uuid5_texts_are_what_uuid5_makes(
    namespace: uuid.UUID, prefix: str, names: list[str]
) -> None:
    assert uuid5_texts(namespace, prefix, names) == [
        str(uuid.uuid5(namespace, prefix + name)) for name in names
    ]
