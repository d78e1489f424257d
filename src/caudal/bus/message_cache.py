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
"""

from __future__ import annotations

from collections import OrderedDict

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

    def __len__(self) -> int:
        return len(self._by_seq)
