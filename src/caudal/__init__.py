"""caudal: an event-driven data platform for digital banks and retailers."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # The version is read from the installed metadata when first asked for (`caudal --version`,
    # the OpenAPI document, the web pages, the FakeStore client's User-Agent), not on import:
    # `importlib.metadata` costs ~70 ms of every process's start-up, a worker's included.
    if name != "__version__":
        raise AttributeError(f"module 'caudal' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("caudal")
    except PackageNotFoundError:  # running from a source tree without an install
        found = "0.0.0+local"
    globals()["__version__"] = found  # asked once: later reads find the module attribute
    return found
