"""The score cache port. Adapters: `cache_memory.py` (one process), `cache_redis.py`.

Invalidation is generation-based so a score computed from old inputs can never be stored after
the inputs changed: read the generation, compute, then `put` succeeds only if the generation is
still the same (an `invalidate` in between bumps it and drops the value).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class ScoreCache(Protocol):
    async def get(self, customer_id: str) -> dict[str, Any] | None: ...

    async def generation(self, customer_id: str) -> int: ...

    async def put(
        self, customer_id: str, value: dict[str, Any], generation: int, ttl_s: int
    ) -> bool:
        """Store unless the customer's inputs changed since `generation` was read."""
        ...

    async def invalidate(self, customer_ids: Iterable[str]) -> None: ...

    async def close(self) -> None: ...
