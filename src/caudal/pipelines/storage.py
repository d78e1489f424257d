"""fsspec URLs (`file://`, `s3://`, `gs://`, `memory://`) to a filesystem and a root path."""

from __future__ import annotations

from typing import Any

import fsspec


def filesystem(url: str) -> tuple[Any, str]:
    """(filesystem, root path without protocol) for an fsspec URL; a bare path is local."""
    fs, root = fsspec.core.url_to_fs(url)
    return fs, str(root).rstrip("/")


def is_local(fs: Any) -> bool:
    return "file" in _protocols(fs)


def url_of(fs: Any, path: str) -> str:
    """The full URL of `path` on `fs` (what run history and `_SUCCESS` readers see)."""
    return str(fs.unstrip_protocol(path))


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)
