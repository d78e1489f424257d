"""Where the NATS bus keeps things: streams, subjects, consumers and KV buckets of a namespace.

Every name derives from `CAUDAL_BUS__NATS_NAMESPACE` (default `caudal`), so several deployments
(or test runs) share one NATS cluster without seeing each other.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_UNSAFE_SUBJECT = re.compile(r"[^A-Za-z0-9_.-]")


def token(name: str) -> str:
    """A group or topic name made safe for consumer names and KV keys, still unique."""
    safe = _UNSAFE.sub("_", name)
    return safe if safe == name else f"{safe}-{zlib.crc32(name.encode()):08x}"


@dataclass(frozen=True)
class Names:
    namespace: str

    @property
    def stream(self) -> str:
        """The log: every message, subject `<ns>.bus.<topic>.<partition>`."""
        return f"{self.namespace}_bus"

    @property
    def dead_stream(self) -> str:
        """Dead letters (`<ns>.dlq.<group>`) and re-drive requests (`<ns>.redrive.<group>`)."""
        return f"{self.namespace}_dlq"

    @property
    def leases(self) -> str:
        """KV bucket with a TTL of the lease: `<group>.m.<member>` and `<group>.p.<partition>`."""
        return f"{self.namespace}_leases"

    @property
    def groups(self) -> str:
        """KV bucket of the registered groups: `<group>` -> topics and partitions."""
        return f"{self.namespace}_groups"

    def subject(self, topic: str, partition: int) -> str:
        return f"{self.namespace}.bus.{_UNSAFE_SUBJECT.sub('_', topic)}.{partition}"

    def dead_subject(self, group: str | None) -> str:
        return f"{self.namespace}.dlq.{token(group) if group else '*'}"

    def redrive_subject(self, group: str | None) -> str:
        return f"{self.namespace}.redrive.{token(group) if group else '*'}"

    def consumer(self, group: str, topic: str, partition: int) -> str:
        """The durable pull consumer holding the group's position on one topic partition."""
        return f"{token(group)}__{token(topic)}__{partition}"

    def redrive_consumer(self, group: str) -> str:
        return f"{token(group)}__redrive"

    def member_key(self, group: str, member: str) -> str:
        return f"{token(group)}.m.{member}"

    def lease_key(self, group: str, partition: int) -> str:
        return f"{token(group)}.p.{partition}"
