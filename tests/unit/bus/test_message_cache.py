"""The per-process cache of decoded bus messages (bus/message_cache.py)."""

from __future__ import annotations

from caudal.bus.message_cache import MessageCache
from caudal.platform.bus.model import Message


def test_a_message_is_decoded_once_and_shared_by_every_reader() -> None:
    cache = MessageCache()
    first = cache.message(7, "events", "k", "id-7", '{"a": [1, 2]}', '{"trace_key": "t"}')
    again = cache.message(7, "events", "k", "id-7", '{"a": [1, 2]}', '{"trace_key": "t"}')
    assert first is again
    assert first == Message("events", "k", {"a": [1, 2]}, id="id-7", headers={"trace_key": "t"})


def test_empty_headers_decode_to_a_fresh_empty_dict() -> None:
    cache = MessageCache()
    one = cache.message(1, "events", "k", "id-1", "{}", "{}")
    two = cache.message(2, "events", "k", "id-2", "{}", "{}")
    assert one.headers == {} and two.headers == {}
    assert one.headers is not two.headers


def test_the_oldest_entries_go_first_past_the_capacity() -> None:
    cache = MessageCache(capacity=2)
    one = cache.message(1, "t", "k", "id-1", "1", "{}")
    cache.message(2, "t", "k", "id-2", "2", "{}")
    cache.message(3, "t", "k", "id-3", "3", "{}")
    assert len(cache) == 2
    again = cache.message(1, "t", "k", "id-1", "1", "{}")
    assert again == one and again is not one  # decoded anew: an equal message, not the old one


def test_another_message_at_a_known_seq_is_decoded_not_taken_from_the_cache() -> None:
    # A seq is never reused in one database; a test database truncated with its identity
    # restarted is the exception the id check guards against.
    cache = MessageCache()
    cache.message(1, "t", "k", "id-old", '"old"', "{}")
    fresh = cache.message(1, "t", "k", "id-new", '"new"', "{}")
    assert fresh.id == "id-new" and fresh.payload == "new"  # type: ignore[comparison-overlap]


def test_the_payload_text_held_is_bounded_too() -> None:
    cache = MessageCache(text_bytes=10)
    cache.message(1, "t", "k", "id-1", '"abcd"', "{}")  # 6 characters
    cache.message(2, "t", "k", "id-2", '"efgh"', "{}")  # 12 in all: the first goes
    assert len(cache) == 1
    big = cache.message(3, "t", "k", "id-3", '"a much longer text"', "{}")
    assert len(cache) == 0  # larger than the bound alone: decoded, handed over, not kept
    assert big.payload == "a much longer text"  # type: ignore[comparison-overlap]


def test_get_answers_only_a_message_decoded_at_that_seq_with_that_id() -> None:
    cache = MessageCache(capacity=2)
    assert cache.get(1, "id-1") is None  # never decoded: the fetch reads its payload
    one = cache.message(1, "t", "k", "id-1", "1", "{}")
    assert cache.get(1, "id-1") is one
    assert cache.get(1, "id-other") is None  # another message at a known seq
    cache.message(2, "t", "k", "id-2", "2", "{}")
    cache.message(3, "t", "k", "id-3", "3", "{}")
    assert cache.get(1, "id-1") is None  # evicted, oldest first


async def test_a_read_in_flight_is_claimed_once_and_its_waiters_woken_when_released() -> None:
    cache = MessageCache()
    mine, others = cache.claim([1, 2, 3])
    assert mine == [1, 2, 3] and not others
    theirs, waits = cache.claim([2, 3, 4])  # another group misses 2 and 3 too
    assert theirs == [4] and len(waits) == 1
    (wait,) = waits
    assert not wait.done()
    cache.message(2, "t", "k", "id-2", "2", "{}")  # 3 was not found (erased, say)
    cache.release(mine)
    assert wait.done()
    assert cache.get(2, "id-2") is not None and cache.get(3, "id-3") is None
    again, waits = cache.claim([3])  # released: the next reader claims it
    assert again == [3] and not waits
    cache.release(theirs)
    cache.release(again)
    assert cache.claim([1, 4]) == ([1, 4], set())
