"""File adapter of the KMS port: one file of 32 raw bytes per key, mode 0600, in a 0700 directory.

Writes are atomic and private from the first byte: a unique temporary name (two processes
creating keys at once never share one), fsync, rename, fsync of the directory. Destroying a
key unlinks it; on a copy-on-write or journaling file system old blocks may linger, so put the
directory on storage you can trust to forget (or use an HSM/cloud KMS adapter).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from caudal.platform.kms import KEY_BYTES, KeyExists, valid_name

SUFFIX = ".key"


def write_private(path: Path, content: bytes, *, replace: bool = True) -> None:
    """Write `content` to `path` atomically, mode 0600; with replace=False never overwrite
    (KeyExists)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.write(fd, content)
            os.fsync(fd)
        finally:
            os.close(fd)
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the name exists: no silent overwrite of a key
            except FileExistsError:
                raise KeyExists(path.name) from None
            finally:
                os.unlink(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileKeyManager:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        return self.directory / (valid_name(name) + SUFFIX)

    def create(self, name: str) -> bytes:
        key = secrets.token_bytes(KEY_BYTES)
        write_private(self._path(name), key, replace=False)
        return key

    def get(self, name: str) -> bytes | None:
        try:
            key = self._path(name).read_bytes()
        except FileNotFoundError:
            return None
        if len(key) != KEY_BYTES:
            raise ValueError(f"key file {name} is damaged ({len(key)} bytes)")
        return key

    def destroy(self, name: str) -> None:
        path = self._path(name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        _fsync_dir(self.directory)

    def names(self, prefix: str = "") -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(
            p.name.removesuffix(SUFFIX)
            for p in self.directory.iterdir()
            if p.name.endswith(SUFFIX) and not p.name.startswith(".") and p.name.startswith(prefix)
        )
