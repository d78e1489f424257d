"""caudal: an event-driven data platform for digital banks and retailers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("caudal")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
