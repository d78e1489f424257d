"""The posting engine as a bus consumer group (`ledger-posting` on `ledger.impacts`)."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from caudal.ledger.engine import MALFORMED, Posting, PostingEngine
from caudal.ledger.model import Rejection
from caudal.platform.bus.model import Record
from caudal.platform.uuid_text import canonical_uuid

_log = structlog.get_logger("caudal.ledger.consumer")


class PostingConsumer:
    """Each delivered batch is posted in one transaction (journal, balances, callbacks). A
    failure raises: the bus retries the batch, then isolates and dead-letters a poison one."""

    def __init__(
        self, engine: PostingEngine, group: str, topic: str, batch_size: int = 1000
    ) -> None:
        self.engine = engine
        self.group = group
        self.batch_size = batch_size  # records per handle() call (the bus reads this)
        self.topics: tuple[str, ...] = (topic,)

    async def handle(self, records: Sequence[Record]) -> None:
        postings: list[Posting] = []
        malformed: list[Rejection] = []
        for record in records:
            payload = record.message.payload
            try:
                postings.append(Posting.from_payload(payload))
            except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                try:
                    tracekey = canonical_uuid(payload.get("tracekey"))
                except ValueError:
                    _log.error("ledger_message_unreadable", offset=record.offset)
                    continue
                malformed.append(Rejection(tracekey, MALFORMED, f"unreadable impact: {exc}"))
        outcome = await self.engine.post(postings, malformed)
        _log.debug(
            "ledger_batch_posted",
            posted=len(outcome.posted),
            rejected=len(outcome.rejected),
            skipped=outcome.skipped,
        )
