"""Messages decoded once per process, whatever the number of consumer groups reading them.

Every consumer group of a worker reads every message of its topics (the `events` topic feeds
the lake, realtime, customers.activity and webhook groups), and decoding a fetched row into a
`Message` (the JSON payload and headers, the frozen dataclass) was the largest Python cost of a
drain: once per group. A stored message never changes (`bus.messages.seq` is never reused), so
the first group to fetch a message decodes it and the others of the process take the same
object, as the in-memory adapter already hands one stored message to every group: consumers
treat payloads as read-only.

Bounded: the oldest entries go first. A group far behind the others decodes again, which costs
time, never correctness.
"""

from __future__ import annotations

from caudal.bus.codec import loads
from caudal.platform.bus.model import Message

DEFAULT_CAPACITY = 32_768  # a few deliveries of every group (~1 KB per frontend event)
_NO_HEADERS = "{}"


class MessageCache:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._by_seq: dict[int, Message] = {}

    def message(
        self, seq: int, topic: str, key: str, message_id: str, payload: str, headers: str
    ) -> Message:
        """The message stored at `seq`, decoded from its JSON text on first sight."""
        found = self._by_seq.get(seq)
        if found is not None and found.id == message_id:
            return found
        message = Message(
            topic,
            key,
            loads(payload),
            id=message_id,
            headers={} if headers == _NO_HEADERS else loads(headers),
        )
        by_seq = self._by_seq
        by_seq[seq] = message
        if len(by_seq) > self.capacity:  # dicts keep insertion order: drop the oldest
            del by_seq[next(iter(by_seq))]
        return message

    def __len__(self) -> int:
        return len(self._by_seq)
