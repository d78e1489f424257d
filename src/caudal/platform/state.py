"""The capabilities' long-lived objects in one process, one per type.

A capability builds its state (a dataclass: registries, caches, pools) when it starts and
provides it here; its routes ask for it by type and get that type back. The platform keeps
the objects without knowing what they are.
"""

from __future__ import annotations

from typing import TypeVar

from caudal.platform.errors import unavailable

T = TypeVar("T")


class States:
    def __init__(self) -> None:
        self._by_type: dict[type, object] = {}

    def provide(self, state: object) -> None:
        self._by_type[type(state)] = state

    def get(self, kind: type[T]) -> T:
        """The state of that type; a 503 problem while its capability is not started."""
        found = self._by_type.get(kind)
        if not isinstance(found, kind):
            raise unavailable(f"the capability holding {kind.__name__} is not started")
        return found

    def find(self, kind: type[T]) -> T | None:
        """The state of that type, or None (for what is optional: a port only some
        capabilities provide)."""
        found = self._by_type.get(kind)
        return found if isinstance(found, kind) else None

    def withdraw(self, kind: type[T]) -> T | None:
        """Remove and return the state of that type (None when there was none), to close it."""
        found = self._by_type.pop(kind, None)
        return found if isinstance(found, kind) else None
