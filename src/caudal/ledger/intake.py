"""Accepting impacts: validate every rule up front, then record them as pending and publish them
on the bus in ONE transaction (the outbox). Idempotent on the tracekey."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from psycopg.rows import class_row, dict_row, scalar_row

from caudal.ledger import validation
from caudal.ledger.model import PENDING, POSTED, REJECTED, EventCode, Impact
from caudal.ledger.queries import q
from caudal.ledger.sql import fetch
from caudal.platform.bus.model import Message
from caudal.platform.bus.port import Bus
from caudal.platform.db.pool import AsyncConn, Database
from caudal.platform.errors import FieldError

INVALID = "invalid"
CONFLICT = "conflict"


@dataclass
class ImpactState:
    """What GET /v1/ledger/impacts/{tracekey} answers."""

    tracekey: str
    status: str  # pending | posted | rejected
    acceptedat: datetime
    transaction_id: str | None = None  # once posted
    postedat: datetime | None = None
    code: str | None = None  # once rejected
    reason: str | None = None
    rejectedat: datetime | None = None
    fingerprint: str = ""
    reserved_id: str = ""  # the id the transaction gets (or got)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"tracekey": self.tracekey, "status": self.status}
        body["accepted_at"] = self.acceptedat.isoformat()
        if self.status == POSTED:
            body["transaction_id"] = self.transaction_id
            body["posted_at"] = self.postedat.isoformat() if self.postedat else None
        elif self.status == REJECTED:
            body["code"] = self.code
            body["reason"] = self.reason
            body["rejected_at"] = self.rejectedat.isoformat() if self.rejectedat else None
        return body


@dataclass
class ItemResult:
    index: int
    status: str  # pending | posted | rejected | invalid | conflict
    tracekey: str | None = None
    state: ImpactState | None = None
    errors: list[FieldError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        if self.state is not None:
            return {"index": self.index, **self.state.as_dict()}
        body: dict[str, Any] = {"index": self.index, "tracekey": self.tracekey}
        body["status"] = self.status
        body["code"] = self.errors[0].code if self.errors else None
        body["errors"] = [e.as_dict() for e in self.errors]
        return body


def state_from_row(row: dict[str, Any]) -> ImpactState:
    """An `impact_status` row (its columns are the fields): pending until a transaction (posted)
    or a rejection exists."""
    status = POSTED if row["transaction_id"] else REJECTED if row["code"] else PENDING
    return ImpactState(status=status, **row)


async def load_states(conn: AsyncConn, tracekeys: Sequence[str]) -> dict[str, ImpactState]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(q("impact_status"), {"tracekeys": list(tracekeys)})
    return {row["tracekey"]: state_from_row(row) for row in await cur.fetchall()}


async def load_events(conn: AsyncConn, codes: Sequence[int]) -> dict[int, EventCode]:
    cur = conn.cursor(row_factory=class_row(EventCode))
    await cur.execute(q("event_codes_in"), {"codes": sorted(set(codes))})
    return {e.code: e for e in await cur.fetchall()}


def impact_message(impact: Impact, transaction_id: str, topic: str) -> Message:
    payload = impact.to_payload()
    payload["transaction_id"] = transaction_id
    return Message(
        topic=topic,
        key=impact.key,
        payload=payload,
        id=f"ledger.impact:{impact.tracekey}",
        headers={"trace_key": impact.tracekey},
    )


class Intake:
    def __init__(self, database: Database, bus: Bus, topic: str) -> None:
        self.database = database
        self.bus = bus
        self.topic = topic

    async def accept(
        self, raws: Sequence[Any], rules: validation.Rules, subject: str | None
    ) -> list[ItemResult]:
        """One result per raw impact, in order. Valid new impacts are recorded and published
        atomically; known tracekeys answer their current state (or conflict)."""
        results: list[ItemResult] = []
        parsed: list[tuple[int, dict[str, Any], list[FieldError]]] = []
        for index, raw in enumerate(raws):
            fields, errors = validation.parse(raw)
            tracekey = fields.get("tracekey") or (
                raw.get("tracekey") if isinstance(raw, dict) else None
            )
            results.append(ItemResult(index, PENDING, str(tracekey) if tracekey else None))
            parsed.append((index, fields, errors))
        async with self.database.connection() as conn, conn.transaction():
            codes = [f["eventcode"] for _, f, _ in parsed if "eventcode" in f]
            events = await load_events(conn, codes) if codes else {}
            valid: list[tuple[int, Impact]] = []
            for index, fields, shape_errors in parsed:
                # every error of the impact: the shape's and the rules' of its well-formed fields
                errors = shape_errors + validation.check_rules(fields, events, rules)
                if errors:
                    results[index] = ItemResult(
                        index, INVALID, results[index].tracekey, errors=errors
                    )
                else:
                    valid.append((index, validation.build(fields)))
            if valid:
                await self._record(conn, valid, results, subject)
        return results

    async def _record(
        self,
        conn: AsyncConn,
        valid: list[tuple[int, Impact]],
        results: list[ItemResult],
        subject: str | None,
    ) -> None:
        # each impact's fingerprint once (orjson + sha256, ~3 µs): the insert and the
        # comparison with the stored one both need it
        prints = [impact.fingerprint() for _, impact in valid]
        first: dict[str, tuple[Impact, str]] = {}
        for (_, impact), fingerprint in zip(valid, prints, strict=True):
            first.setdefault(impact.tracekey, (impact, fingerprint))
        fresh = [impact for impact, _ in first.values()]
        ids = {impact.tracekey: str(uuid.uuid4()) for impact in fresh}
        inserted: set[str] = set()
        if fresh:
            rows = await fetch(
                conn,
                "impact_insert",
                {
                    "rows": orjson.dumps(
                        [
                            [
                                i.tracekey,
                                ids[i.tracekey],
                                fingerprint,
                                i.branch,
                                i.account,
                                str(i.amount),
                                i.debitcredit,
                                i.eventcode,
                                i.description,
                                i.details,
                                i.dateref.isoformat(),
                            ]
                            for i, fingerprint in first.values()
                        ]
                    ).decode(),
                    "subject": subject,
                },
                scalar_row,
            )
            inserted = set(rows)
            new = [i for i in fresh if i.tracekey in inserted]
            await self.bus.publish(
                [impact_message(i, ids[i.tracekey], self.topic) for i in new], conn=conn
            )
        states = await load_states(conn, list(first))
        for (index, impact), fingerprint in zip(valid, prints, strict=True):
            state = states.get(impact.tracekey)
            if state is None:  # cannot happen: inserted or already there
                raise RuntimeError(f"impact {impact.tracekey} vanished")
            if state.fingerprint != fingerprint:
                results[index] = ItemResult(
                    index,
                    CONFLICT,
                    impact.tracekey,
                    errors=[
                        FieldError(
                            "tracekey",
                            validation.TRACEKEY_CONFLICT,
                            "this tracekey was already used with another payload",
                        )
                    ],
                )
            else:
                results[index] = ItemResult(index, state.status, impact.tracekey, state=state)
