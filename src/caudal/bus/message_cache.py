"""Messages decoded once per process, whatever the number of consumer groups reading them.

Every consumer group of a worker reads every message of its topics (the `events` topic feeds
the lake, realtime, customers.activity and webhook groups), and decoding a fetched row into a
`Message` (the JSON payload and headers, the frozen dataclass) was the largest Python cost of a
drain: once per group. A stored message never changes (`bus.messages.seq` is never reused), so
the first group to fetch a message decodes it and the others of the process take the same
object, as the in-memory adapter already hands one stored message to every group: consumers
treat payloads as read-only.

Bounded in entries and in the JSON text they came from: the oldest go first. A group far
behind the others decodes again, which costs time, never correctness. The eviction order is an
`OrderedDict`: a plain dict emptied from the front keeps the freed slots ahead of its first live
entry, so `next(iter(d))` walked them on every eviction (~13 µs per message at 32,768 entries,
more than decoding it).

Read once too: the groups of a worker run side by side, so two of them often miss the same
messages at the same time (a prefetch makes it likelier: postgres_consumer.py). A group claims
what it is about to read (`claim`); another that misses the same messages waits for that read
instead of reading them again, and reads itself only what is still missing after it (evicted,
erased, or the claimer's read failed or was cancelled: `release` is in a `finally`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence

from caudal.bus.codec import loads
from caudal.platform.bus.model import Message

DEFAULT_CAPACITY = 32_768  # a few deliveries of every group
DEFAULT_TEXT_BYTES = 32 * 1024 * 1024  # of payload text (decoded objects take a few times more)
_NO_HEADERS = "{}"


class MessageCache:
    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, text_bytes: int = DEFAULT_TEXT_BYTES
    ) -> None:
        self.capacity = capacity
        self.text_bytes = text_bytes
        self._by_seq: OrderedDict[int, tuple[Message, int]] = OrderedDict()
        self._text = 0  # payload characters held
        self._reading: dict[int, asyncio.Future[None]] = {}  # seq -> a group's read in flight

    def get(self, seq: int, message_id: str) -> Message | None:
        """The message stored at `seq` if this process decoded it already."""
        found = self._by_seq.get(seq)
        if found is not None and found[0].id == message_id:
            return found[0]
        return None

    def message(
        self, seq: int, topic: str, key: str, message_id: str, payload: str, headers: str
    ) -> Message:
        """The message stored at `seq`, decoded from its JSON text on first sight."""
        found = self._by_seq.get(seq)
        if found is not None and found[0].id == message_id:
            return found[0]
        message = Message(
            topic,
            key,
            loads(payload),
            id=message_id,
            headers={} if headers == _NO_HEADERS else loads(headers),
        )
        by_seq = self._by_seq
        if found is not None:
            self._text -= found[1]
        by_seq[seq] = (message, len(payload))
        self._text += len(payload)
        while len(by_seq) > self.capacity or self._text > self.text_bytes:
            self._text -= by_seq.popitem(last=False)[1][1]
        return message

    def claim(self, seqs: Sequence[int]) -> tuple[list[int], set[asyncio.Future[None]]]:
        """Of `seqs` (not decoded here), those the caller reads now (it must `release` them),
        and the reads in flight that bring the others."""
        mine: list[int] = []
        others: set[asyncio.Future[None]] = set()
        reading = self._reading
        for seq in seqs:
            read = reading.get(seq)
            if read is None:
                mine.append(seq)
            else:
                others.add(read)
        if mine:
            read = asyncio.get_running_loop().create_future()
            for seq in mine:
                reading[seq] = read
        return mine, others

    def release(self, seqs: Sequence[int]) -> None:
        """The caller's read of `seqs` (its claim) ended, done or not: wake who waits for it."""
        if not seqs:
            return
        read = self._reading.get(seqs[0])
        for seq in seqs:
            if self._reading.get(seq) is read:
                del self._reading[seq]
        if read is not None and not read.done():
            read.set_result(None)

    def __len__(self) -> int:
        return len(self._by_seq)
