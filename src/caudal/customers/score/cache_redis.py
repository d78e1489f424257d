"""Redis score cache (CAUDAL_REDIS_URL): shared by every API and worker process."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import redis.asyncio as aioredis

_PREFIX = "caudal:customers:score:"

# Store the value only if the generation is still the one the caller read.
_PUT_IF_GENERATION = """
local current = redis.call('GET', KEYS[2])
if (current or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


class RedisScoreCache:
    def __init__(self, url: str) -> None:
        self._redis: aioredis.Redis = aioredis.Redis.from_url(url)
        self._put = self._redis.register_script(_PUT_IF_GENERATION)

    @staticmethod
    def _value_key(customer_id: str) -> str:
        return f"{_PREFIX}{customer_id}"

    @staticmethod
    def _generation_key(customer_id: str) -> str:
        return f"{_PREFIX}{customer_id}:gen"

    async def get(self, customer_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(self._value_key(customer_id))
        if raw is None:
            return None
        value = orjson.loads(raw)
        return value if isinstance(value, dict) else None

    async def generation(self, customer_id: str) -> int:
        raw = await self._redis.get(self._generation_key(customer_id))
        return int(raw) if raw is not None else 0

    async def put(
        self, customer_id: str, value: dict[str, Any], generation: int, ttl_s: int
    ) -> bool:
        stored = await self._put(
            keys=[self._value_key(customer_id), self._generation_key(customer_id)],
            args=[str(generation), orjson.dumps(value), ttl_s],
        )
        return bool(stored)

    async def invalidate(self, customer_ids: Iterable[str]) -> None:
        ids = list(customer_ids)
        if not ids:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            for customer_id in ids:
                pipe.incr(self._generation_key(customer_id))
                pipe.delete(self._value_key(customer_id))
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()
