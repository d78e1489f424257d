"""The file adapter of the KMS port: private files, atomic creation, destruction for good."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from caudal.platform.kms import KeyExists
from caudal.platform.kms_file import FileKeyManager


def test_keys_are_private_files_created_once_and_destroyed(tmp_path: Path) -> None:
    kms = FileKeyManager(tmp_path / "kms")
    key = kms.create("customers-epoch-a")
    assert len(key) == 32 and kms.get("customers-epoch-a") == key
    path = tmp_path / "kms" / "customers-epoch-a.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with pytest.raises(KeyExists):
        kms.create("customers-epoch-a")  # never overwritten: what it wraps would be lost
    assert kms.get("customers-epoch-a") == key
    kms.create("other")
    assert kms.names() == ["customers-epoch-a", "other"]
    assert kms.names("customers-") == ["customers-epoch-a"]
    kms.destroy("customers-epoch-a")
    kms.destroy("customers-epoch-a")  # no-op
    assert kms.get("customers-epoch-a") is None and kms.names() == ["other"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["other.key"]  # no temp files left


def test_concurrent_creates_of_one_name_leave_exactly_one_key(tmp_path: Path) -> None:
    kms = FileKeyManager(tmp_path)

    def attempt(_: int) -> bytes | None:
        try:
            return kms.create("race")
        except KeyExists:
            return None

    with ThreadPoolExecutor(8) as pool:
        won = [k for k in pool.map(attempt, range(16)) if k is not None]
    assert len(won) == 1 and kms.get("race") == won[0]


@pytest.mark.parametrize("name", ["../escape", "", "a/b", ".hidden", "x" * 200])
def test_names_cannot_leave_the_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="invalid key name"):
        FileKeyManager(tmp_path).create(name)
