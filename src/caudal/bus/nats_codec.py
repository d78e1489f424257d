"""How a bus message travels in JetStream: one JSON envelope per NATS message.

Topic, key and headers ride in the body, not in NATS headers (a key may hold any character);
the only NATS header is `Nats-Msg-Id` = the message id, which JetStream deduplicates within its
window. A dead letter is the same envelope plus where and why it failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from caudal.bus.codec import dumps, loads
from caudal.platform.bus.model import DeadLetter, Message, Record

MSG_ID = "Nats-Msg-Id"


def envelope(topic: str, key: str, payload_json: str, headers_json: str) -> bytes:
    """The body of a message whose payload and headers are JSON text already (the outbox's)."""
    return orjson.dumps(
        {
            "t": topic,
            "k": key,
            "h": orjson.Fragment(headers_json),
            "p": orjson.Fragment(payload_json),
        }
    )


def encode(message: Message) -> bytes:
    return envelope(message.topic, message.key, dumps(message.payload), dumps(message.headers))


def decode(data: bytes, message_id: str) -> Message:
    body = loads(data)
    return Message(body["t"], body["k"], body["p"], id=message_id, headers=body["h"])


def record(data: bytes, message_id: str, seq: int, attempt: int, at: datetime) -> Record:
    return Record(decode(data, message_id), offset=seq, attempt=attempt, published_at=at)


def encode_dead(group: str, partition: int, rec: Record, attempts: int, error: str) -> bytes:
    m = rec.message
    body: dict[str, Any] = {
        "t": m.topic,
        "k": m.key,
        "h": m.headers,
        "p": m.payload,
        "id": m.id,
        "g": group,
        "partition": partition,
        "offset": rec.offset,
        "attempts": attempts,
        "error": error,
        "published_at": rec.published_at,
    }
    return dumps(body).encode()


def decode_dead(data: bytes, seq: int, failed_at: datetime, requested: bool) -> DeadLetter:
    body = loads(data)
    return DeadLetter(
        id=seq,
        group=body["g"],
        offset=int(body["offset"]),
        message=Message(body["t"], body["k"], body["p"], id=body["id"], headers=body["h"]),
        attempts=int(body["attempts"]),
        last_error=body["error"],
        published_at=datetime.fromisoformat(body["published_at"]),
        failed_at=failed_at,
        redrive_requested=requested,
    )


def dead_partition(data: bytes) -> int:
    return int(loads(data)["partition"])
