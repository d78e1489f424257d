from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from caudal.customers.crypto import keyfile
from caudal.customers.crypto.envelope import DecryptionFailed
from caudal.customers.crypto.epochs import EpochKeys, new_epoch_id
from caudal.customers.crypto.vault import Vault
from caudal.platform.settings import CustomersSettings, Settings
from tests.support.kms import MemoryKms


def b64() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def settings(**customers: object) -> Settings:
    # home points nowhere: settings mode must not touch the file system
    return Settings(home=Path("/nonexistent/caudal"), customers=CustomersSettings(**customers))  # type: ignore[arg-type]


def test_settings_mode_needs_only_the_index_key_and_still_opens_legacy_wraps() -> None:
    index, master = b64(), b64()
    legacy = keyfile.load(
        settings(master_keys={"k1": SecretStr(master)}, index_key=SecretStr(index))
    )
    assert legacy.source == "settings" and legacy.ring is not None and legacy.ring.active == "k1"
    kms = MemoryKms()
    old = Vault(legacy, EpochKeys(kms))
    key_id, wrapped = legacy.ring.wrap(b"d" * 32, "c1")
    sealed = old.seal("c1", b"d" * 32, {"nome": "Ana"})
    epoch = new_epoch_id()
    EpochKeys(kms).create(epoch)
    from caudal.customers.crypto.vault import SealedKey

    moved = old.rewrap("c1", SealedKey(key_id, wrapped), epoch)
    assert moved.key_id == epoch

    current = keyfile.load(settings(index_key=SecretStr(index)))
    assert current.ring is None
    vault = Vault(current, EpochKeys(kms))
    assert vault.open("c1", moved, sealed) == {"nome": "Ana"}
    assert vault.cpf_index("12345678909") == old.cpf_index("12345678909")
    with pytest.raises(DecryptionFailed, match="retired"):
        vault.open("c1", SealedKey(key_id, wrapped), sealed)


def test_a_destroyed_epoch_key_opens_nothing_it_wrapped() -> None:
    kms = MemoryKms()
    keys = keyfile.CustomerKeys(None, os.urandom(32), "test")
    epoch = new_epoch_id()
    EpochKeys(kms).create(epoch)
    writer = Vault(keys, EpochKeys(kms))
    sealed_key, data_key = writer.new_key("c1", epoch)
    sealed = writer.seal("c1", data_key, {"nome": "Ana"})
    with pytest.raises(DecryptionFailed):  # bound to its customer
        writer.open("c2", sealed_key, sealed)
    kms.destroy(epoch)
    with pytest.raises(DecryptionFailed, match="no longer exists"):
        Vault(keys, EpochKeys(kms)).open("c1", sealed_key, sealed)


def test_settings_mode_requires_valid_keys_and_an_index_key() -> None:
    with pytest.raises(ValueError, match="INDEX_KEY"):
        keyfile.load(settings(master_keys={"k1": SecretStr(b64())}))
    with pytest.raises(ValueError, match="32 bytes"):
        keyfile.load(
            settings(master_keys={"k1": SecretStr("c2hvcnQ=")}, index_key=SecretStr(b64()))
        )
    with pytest.raises(ValueError, match="32 bytes"):
        keyfile.load(settings(index_key=SecretStr("c2hvcnQ=")))
    with pytest.raises(ValueError, match="not in the key ring"):
        keyfile.load(
            settings(
                master_keys={"k1": SecretStr(b64())},
                active_key_id="k9",
                index_key=SecretStr(b64()),
            )
        )
