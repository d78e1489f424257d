"""The canonical event of a bus message, decoded once per process for every sink group.

The lake and realtime groups of a worker both take every event of the `events` topic, and the
bus hands them the same `Message` object (`bus/message_cache.py`: one decode of the payload per
process). Building the `CanonicalEvent` from that payload (msgspec checks the types and parses
both times) was, after the payload's own decode, the largest per-event cost of their routing:
once per group. Events are frozen and sinks treat them as read-only, like payloads, so the
first group to route a message decodes its event and the others take the same object.

Keyed by the message object itself (its `id()`, the message pinned in the entry so the key is
never reused while the entry lives). Bounded in two generations of plain dicts: when the young
one is full it becomes the old one and the previous old one is dropped whole, so between half
and all of `capacity` recent events are held. Cheaper per event than an `OrderedDict` evicting
one entry per insert (`bench/profiles/README.md`, third `drain` section). A group far behind the
others decodes again: time, never correctness.
"""

from __future__ import annotations

from caudal.events.model import CanonicalEvent
from caudal.platform.bus.model import Message

DEFAULT_CAPACITY = 32_768  # as many as the bus's decoded messages: a few deliveries of a group


class DecodedEvents:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._young: dict[int, tuple[Message, CanonicalEvent]] = {}
        self._old: dict[int, tuple[Message, CanonicalEvent]] = {}

    def event(self, message: Message) -> CanonicalEvent:
        """The event of `message`'s payload (`CanonicalEvent.from_dict`), decoded on first
        sight; raises as `from_dict` does, and then remembers nothing."""
        key = id(message)
        found = self._young.get(key) or self._old.get(key)
        if found is not None and found[0] is message:
            return found[1]
        event = CanonicalEvent.from_dict(message.payload)
        young = self._young
        young[key] = (message, event)
        if len(young) >= self.capacity // 2:
            self._old, self._young = young, {}
        return event

    def __len__(self) -> int:
        return len(self._young) + len(self._old)


SHARED = DecodedEvents()  # every SinkConsumer of the process, unless given its own
