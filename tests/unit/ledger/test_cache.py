"""The consolidated report's micro-cache: one computation per key and TTL, errors not cached."""

from __future__ import annotations

import asyncio

import pytest

from caudal.ledger.cache import MicroCache


async def test_one_computation_per_key_under_a_burst() -> None:
    cache = MicroCache(ttl_s=60)
    calls = 0

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return b"report"

    results = await asyncio.gather(*(cache.get("k", compute) for _ in range(50)))
    assert results == [b"report"] * 50 and calls == 1
    assert await cache.get("other", compute) == b"report" and calls == 2


async def test_ttl_zero_disables_and_errors_are_not_cached() -> None:
    calls = 0

    async def compute() -> bytes:
        nonlocal calls
        calls += 1
        return str(calls).encode()

    off = MicroCache(ttl_s=0)
    assert [await off.get("k", compute) for _ in range(3)] == [b"1", b"2", b"3"]

    cache = MicroCache(ttl_s=60)

    async def boom() -> bytes:
        raise ValueError("no")

    with pytest.raises(ValueError):
        await cache.get("k", boom)
    assert await cache.get("k", compute) == b"4"


async def test_entries_are_bounded() -> None:
    cache = MicroCache(ttl_s=60, max_entries=2)

    async def value() -> bytes:
        return b"v"

    for key in ("a", "b", "c"):
        await cache.get(key, value)
    assert list(cache._entries) == ["b", "c"]
