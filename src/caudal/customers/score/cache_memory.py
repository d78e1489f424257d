"""In-process score cache (the default without CAUDAL_REDIS_URL): one process only."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any


class MemoryScoreCache:
    def __init__(self, max_entries: int = 100_000) -> None:
        self._values: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._generations: dict[str, int] = {}
        self._max = max_entries

    async def get(self, customer_id: str) -> dict[str, Any] | None:
        entry = self._values.get(customer_id)
        if entry is None:
            return None
        expires, value = entry
        if expires < time.monotonic():
            self._values.pop(customer_id, None)
            return None
        return value

    async def generation(self, customer_id: str) -> int:
        return self._generations.get(customer_id, 0)

    async def put(
        self, customer_id: str, value: dict[str, Any], generation: int, ttl_s: int
    ) -> bool:
        if self._generations.get(customer_id, 0) != generation:
            return False
        self._values[customer_id] = (time.monotonic() + ttl_s, value)
        self._values.move_to_end(customer_id)
        while len(self._values) > self._max:
            self._values.popitem(last=False)
        return True

    async def invalidate(self, customer_ids: Iterable[str]) -> None:
        for customer_id in customer_ids:
            self._generations[customer_id] = self._generations.get(customer_id, 0) + 1
            self._values.pop(customer_id, None)

    async def close(self) -> None:
        self._values.clear()
