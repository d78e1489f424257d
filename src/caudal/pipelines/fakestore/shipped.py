"""The shipped FakeStore data set, read in-process: the default source when no API is set.

`CAUDAL_PIPELINES__FAKESTORE_URL` unset means "the data set inside the package", so a fresh
`make up` and the dashboard's "Run user-carts now" work with no network. It answers the same
`download` / `url` / `close` calls as `FakeStoreClient`, copying the files `caudal fakestore
serve` would serve (no socket, no port, no second process).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from caudal.pipelines.fakestore.server import RESOURCES, fixture_dir
from caudal.pipelines.model import source_unavailable

NAME = "shipped"  # how the source is named in messages, `caudal doctor` and run errors


class ShippedFakeStore:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or fixture_dir()

    def url(self, endpoint: str) -> str:
        return f"{NAME}:{endpoint.lstrip('/')}"

    def download(
        self, endpoint: str, dest: Path, on_bytes: Callable[[int], None] | None = None
    ) -> int:
        name = endpoint.lstrip("/")
        source = self.folder / f"{name}.json"
        if name not in RESOURCES or not source.is_file():
            raise source_unavailable(self.url(endpoint), "not in the shipped data set")
        shutil.copyfile(source, dest)
        size = dest.stat().st_size
        if on_bytes is not None:
            on_bytes(size)
        return size

    def close(self) -> None:
        """Nothing to release (the same calls as an HTTP client)."""
