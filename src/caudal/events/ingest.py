"""Make an `Intake` durable: events on the bus, rejections in quarantine, and the answer under
the client's Idempotency-Key, all in one transaction. Without a key or a rejection (the hot
path) the events join a group commit with the concurrent requests' (`group_commit`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from caudal.events.erasure_barrier import MARGIN
from caudal.events.group_commit import GroupCommit
from caudal.events.intake import Intake, Rejection
from caudal.events.quarantine_seal import QuarantineSealer
from caudal.events.queries import q
from caudal.platform.bus.port import Bus
from caudal.platform.db.pool import Database
from caudal.platform.errors import CaudalError, FieldError


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    @property
    def media_type(self) -> str:
        return "application/json" if self.status < 400 else "application/problem+json"


class _Replayed(Exception):
    pass


def request_hash(route: str, body: bytes) -> str:
    return hashlib.sha256(route.encode() + b"\x00" + body).hexdigest()


def answer_for(intake: Intake, instance: str, trace_key: str | None) -> Answer:
    """202 with the accepted ids (and rejected items) if any event was accepted; otherwise 422
    problem+json listing every rejection (each is kept in quarantine)."""
    if intake.events:
        return Answer(202, orjson.dumps(intake.response()))
    first = intake.rejections[0]
    error = CaudalError(
        code="CAU-EVT-REJECTED",
        detail=(
            f"no event accepted: {first.message}"
            if len(intake.rejections) == 1
            else f"none of the {len(intake.rejections)} events was accepted; see `rejected`"
        )
        + " (kept in quarantine)",
        status=422,
        title="Events rejected",
        field=first.field,
        errors=[FieldError(r.field, r.code, r.message) for r in intake.rejections[:100]],
        extra={"accepted": [], "rejected": [r.as_response() for r in intake.rejections]},
    )
    body = error.problem(instance=instance)
    body["trace_key"] = trace_key
    return Answer(422, orjson.dumps(body))


def _quarantine_params(
    rejections: list[Rejection],
    received_at: datetime,
    trace_key: str | None,
    subject: str,
    sealer: QuarantineSealer,
) -> dict[str, Any]:
    sealed = [sealer.seal(str(r.quarantine_id), orjson.dumps(r.payload)) for r in rejections]
    return {
        "received_at": received_at,
        "margin": MARGIN,  # the erasure barrier's (events/erasure_barrier.py)
        "trace_key": trace_key,
        "subject": subject,
        "ids": [r.quarantine_id for r in rejections],
        "sources": [r.source for r in rejections],
        "types": [r.type for r in rejections],
        "versions": [r.version for r in rejections],
        "reasons": [r.reason for r in rejections],
        "codes": [r.code for r in rejections],
        "messages": [r.message for r in rejections],
        "fields": [r.field for r in rejections],
        "sealed": [p.sealed for p in sealed],
        "wrapped_keys": [p.wrapped_key for p in sealed],
        "key_epochs": [p.key_epoch for p in sealed],
        "tokens": [orjson.dumps(p.tokens).decode() for p in sealed],
    }


class IngestService:
    def __init__(
        self,
        database: Database,
        bus: Bus,
        sealer: QuarantineSealer,
        hot_path: Database | None = None,
    ) -> None:
        self.database = database
        self.sealer = sealer
        self.bus = bus
        self.hot_path = hot_path or database
        self.group = GroupCommit(self.hot_path, bus, max_inflight=self.hot_path.pool.max_size)

    async def submit(
        self,
        intake: Intake,
        *,
        answer: Answer,
        route: str,
        subject: str,
        received_at: datetime,
        trace_key: str | None,
        idempotency_key: str | None,
        body_hash: str,
    ) -> Answer:
        messages = intake.messages()
        if idempotency_key is None and not intake.rejections:
            # The hot path: committed together with concurrent requests' events (group commit).
            await self.group.publish(messages)
            return answer
        async with self.database.connection() as conn:
            try:
                async with conn.transaction():
                    if idempotency_key is not None:
                        claim = await conn.execute(
                            q("idempotency_claim"),
                            {
                                "subject": subject,
                                "key": idempotency_key,
                                "route": route,
                                "hash": body_hash,
                                "status": answer.status,
                                "response": answer.body,
                            },
                        )
                        # No row: a retry (or a concurrent twin this statement waited for).
                        if await claim.fetchone() is None:
                            raise _Replayed
                    if messages:
                        await self.bus.publish(messages, conn)
                    if intake.rejections:
                        await conn.execute(
                            q("quarantine_insert"),
                            _quarantine_params(
                                intake.rejections, received_at, trace_key, subject, self.sealer
                            ),
                            binary=True,  # arrays of JSON text: no per-quote escaping
                        )
            except _Replayed:
                cur = await conn.execute(
                    q("idempotency_get"), {"subject": subject, "key": idempotency_key}
                )
                row = await cur.fetchone()
                await conn.commit()
                if row is None:  # purged in between: extremely unlikely; ask for a retry
                    raise CaudalError(
                        code="CAU-EVT-IDEMPOTENCY-RACE",
                        detail="the Idempotency-Key expired while this request ran; retry it",
                        status=409,
                        title="Conflict",
                    ) from None
                stored_route, stored_hash, status, response = row
                if stored_route != route or stored_hash != body_hash:
                    raise CaudalError(
                        code="CAU-EVT-IDEMPOTENCY-KEY-REUSED",
                        detail="this Idempotency-Key was used for a different request; "
                        "use a new key for a new request",
                        status=422,
                        title="Idempotency key reused",
                        field="Idempotency-Key",
                    ) from None
                return Answer(int(status), bytes(response))
        return answer
