from __future__ import annotations

import os

import pytest

from caudal.customers.crypto import blind, envelope
from caudal.customers.crypto.envelope import DecryptionFailed, MasterKeyRing


def ring(*ids: str, active: str | None = None) -> MasterKeyRing:
    return MasterKeyRing(active or ids[-1], {i: os.urandom(32) for i in ids})


def test_seal_and_open_round_trip_and_refuse_tampering() -> None:
    key = envelope.new_data_key()
    sealed = envelope.seal(key, b"secret", b"aad")
    assert b"secret" not in sealed
    assert envelope.open_sealed(key, sealed, b"aad") == b"secret"
    with pytest.raises(DecryptionFailed):
        envelope.open_sealed(key, sealed, b"other aad")  # copied onto another customer
    with pytest.raises(DecryptionFailed):
        envelope.open_sealed(envelope.new_data_key(), sealed, b"aad")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptionFailed):
        envelope.open_sealed(key, tampered, b"aad")
    assert envelope.seal(key, b"secret", b"aad") != sealed  # fresh nonce each time


def test_master_key_ring_wraps_under_active_and_unwraps_older_keys() -> None:
    old = ring("k1")
    data_key = envelope.new_data_key()
    key_id, wrapped = old.wrap(data_key, "c1")
    assert key_id == "k1"
    both = MasterKeyRing("k2", {"k1": old.keys["k1"], "k2": os.urandom(32)})
    assert both.unwrap("k1", wrapped, "c1") == data_key
    with pytest.raises(DecryptionFailed):
        both.unwrap("k1", wrapped, "c2")  # bound to its customer
    with pytest.raises(DecryptionFailed):
        ring("k9").unwrap("k1", wrapped, "c1")
    assert both.wrap(data_key, "c1")[0] == "k2"


def test_ring_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError):
        MasterKeyRing("missing", {"k1": os.urandom(32)})
    with pytest.raises(ValueError):
        MasterKeyRing("k1", {"k1": b"short"})


def test_blind_indexes_are_keyed_and_names_fold_case_and_accents() -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    assert blind.cpf_index(k1, "12345678909") == blind.cpf_index(k1, "12345678909")
    assert blind.cpf_index(k1, "12345678909") != blind.cpf_index(k2, "12345678909")
    assert blind.cpf_index(k1, "12345678909") != blind.cpf_index(k1, "12345678910")
    assert blind.name_tokens("  JOÃO  da Conceição-Araújo ") == [
        "joao",
        "da",
        "conceicao",
        "araujo",
    ]
    assert blind.name_token_indexes(k1, "João") == blind.name_token_indexes(k1, "joao")
    # the name token domain differs from the CPF domain
    assert blind.name_token_indexes(k1, "12345678909") != [blind.cpf_index(k1, "12345678909")]
    assert blind.pseudonym(k1, "c1") != blind.pseudonym(k2, "c1")
    assert len(blind.pseudonym(k1, "c1")) == 32
