"""The CPF tokenizer the customers capability gives the events intake: the blind index."""

from __future__ import annotations

import os

import pytest

from caudal.customers.cpf import InvalidCpf
from caudal.customers.crypto.envelope import MasterKeyRing
from caudal.customers.crypto.epochs import EpochKeys
from caudal.customers.crypto.keyfile import CustomerKeys
from caudal.customers.crypto.vault import Vault
from caudal.customers.event_tokens import CpfTokens
from tests.support.kms import MemoryKms


def test_the_token_is_the_cpf_blind_index_whatever_the_punctuation() -> None:
    keys = CustomerKeys(MasterKeyRing("k1", {"k1": os.urandom(32)}), os.urandom(32), "t")
    vault = Vault(keys, EpochKeys(MemoryKms()))
    tokens = CpfTokens(vault)
    token = tokens.cpf_token("529.982.247-25")
    assert token == tokens.cpf_token("52998224725") == vault.cpf_index("52998224725").hex()
    with pytest.raises(InvalidCpf) as raised:
        tokens.cpf_token("529.982.247-26")
    assert "247" not in str(raised.value)
