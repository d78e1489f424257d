from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from caudal.customers.crypto import keyfile
from caudal.customers.crypto.vault import Vault
from caudal.platform.settings import CustomersSettings, Settings


def b64() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def settings(**customers: object) -> Settings:
    # home points nowhere: settings mode must not touch the file system
    return Settings(home=Path("/nonexistent/caudal"), customers=CustomersSettings(**customers))  # type: ignore[arg-type]


def test_keys_from_settings_pick_the_active_id_and_open_old_wraps() -> None:
    old, new, index = b64(), b64(), b64()
    before = keyfile.load(settings(master_keys={"k1": SecretStr(old)}, index_key=SecretStr(index)))
    assert before.source == "settings" and before.ring.active == "k1"
    vault = Vault(before)
    sealed_key, data_key = vault.new_key("c1")
    sealed = vault.seal("c1", data_key, {"nome": "Ana"})

    after = keyfile.load(
        settings(
            master_keys={"k1": SecretStr(old), "k2": SecretStr(new)},
            active_key_id="k2",
            index_key=SecretStr(index),
        )
    )
    rotated = Vault(after)
    assert rotated.open("c1", sealed_key, sealed) == {"nome": "Ana"}
    rewrapped = rotated.rewrap("c1", sealed_key)
    assert rewrapped.key_id == "k2"
    assert rotated.open("c1", rewrapped, sealed) == {"nome": "Ana"}
    assert rotated.cpf_index("12345678909") == vault.cpf_index("12345678909")


def test_settings_mode_requires_valid_keys_and_an_index_key() -> None:
    with pytest.raises(ValueError, match="INDEX_KEY"):
        keyfile.load(settings(master_keys={"k1": SecretStr(b64())}))
    with pytest.raises(ValueError, match="32 bytes"):
        keyfile.load(
            settings(master_keys={"k1": SecretStr("c2hvcnQ=")}, index_key=SecretStr(b64()))
        )
    with pytest.raises(ValueError, match="not in the key ring"):
        keyfile.load(
            settings(
                master_keys={"k1": SecretStr(b64())},
                active_key_id="k9",
                index_key=SecretStr(b64()),
            )
        )
