"""The delivery rules of a consumer group member, apart from where the log lives.

Each cycle hands the consumer one batch made of the next records of every partition the member
holds and may work on now, then commits each partition past its records. A failed batch puts its
partitions in isolation: their records are retried one at a time with exponential backoff until
the end of the failed batch, so a poison message alone goes to the dead letters (at once when
its failure is permanent, after `max_attempts` deliveries otherwise: `bus/errors.py`) and the
partition moves on. The retry state lives in the member (the
in-memory and NATS adapters); the PostgreSQL adapter keeps the same rules in its `bus.offsets`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from caudal.bus import errors, metrics
from caudal.platform.bus.model import Record
from caudal.platform.bus.port import Consumer
from caudal.platform.settings import BusSettings

_log = structlog.get_logger("caudal.bus")

# Kept here for the adapters' imports; the policy itself is bus/errors.py.
describe_error = errors.describe


class PartitionLog(Protocol):
    """What an adapter gives the delivery rules: per partition, read and move the position."""

    async def read(self, partition: int, limit: int) -> list[Record]:
        """The next records after the committed position (the same ones until committed)."""

    async def commit(self, partition: int, through: Record) -> None:
        """Everything up to and including `through` is done."""

    async def dead_letter(self, partition: int, record: Record, error: str) -> None:
        """Keep `record` as a dead letter with its last error, and commit past it."""


@dataclass
class RetryState:
    """A partition after a failed batch: attempts of the next record, until when to isolate."""

    attempts: int = 0
    isolate_to: int | None = None  # offset of the last record of the failed batch
    next_at: float = 0.0  # time.monotonic() of the next attempt
    last_error: str | None = None


class Delivery:
    def __init__(self, consumer: Consumer, log: PartitionLog, settings: BusSettings) -> None:
        self.consumer = consumer
        self.group = consumer.group
        self.log = log
        self.settings = settings
        self.batch_size = int(getattr(consumer, "batch_size", settings.batch_size))
        self.retry: dict[int, RetryState] = {}

    def forget(self, partitions: set[int]) -> None:
        """Leases lost: the next owner starts these partitions afresh."""
        for p in partitions:
            self.retry.pop(p, None)

    def retrying(self) -> list[str]:
        return [s.last_error for s in self.retry.values() if s.last_error]

    def next_retry_in(self) -> float | None:
        """Seconds until the earliest waiting retry (None when nothing waits)."""
        waits = [s.next_at for s in self.retry.values() if s.next_at]
        return max(min(waits) - time.monotonic(), 0.0) if waits else None

    async def cycle(self, owned: set[int]) -> bool:
        """Deliver what is ready on the partitions held; True when anything was delivered."""
        now = time.monotonic()
        ready = [p for p in sorted(owned) if p not in self.retry or self.retry[p].next_at <= now]
        if not ready:
            return False
        per_partition = max(1, math.ceil(self.batch_size / len(ready)))
        normal: dict[int, list[Record]] = {}
        isolated: dict[int, Record] = {}
        for p in ready:
            state = self.retry.get(p)
            if state is not None and state.isolate_to is not None:
                records = await self.log.read(p, 1)
                if records:
                    isolated[p] = _attempt(records[0], state.attempts + 1)
            else:
                records = await self.log.read(p, per_partition)
                if records:
                    normal[p] = [_attempt(r, 1) for r in records]
        if normal:
            await self._deliver(normal)
        for p, record in isolated.items():
            await self._deliver_isolated(p, record)
        return bool(normal or isolated)

    async def handle(self, records: Sequence[Record]) -> BaseException | None:
        started = time.perf_counter()
        try:
            await self.consumer.handle(records)
        except Exception as exc:
            return exc
        finally:
            metrics.HANDLE_SECONDS.labels(self.group).observe(time.perf_counter() - started)
        return None

    async def _deliver(self, batches: dict[int, list[Record]]) -> None:
        records = [r for rs in batches.values() for r in rs]
        error = await self.handle(records)
        if error is None:
            for p, rs in batches.items():
                await self.log.commit(p, rs[-1])
            metrics.HANDLED.labels(self.group, "ok").inc(len(records))
            return
        text = errors.describe(error)
        _log.warning(
            "bus_batch_failed",
            group=self.group,
            records=len(records),
            partitions=sorted(batches),
            error=text,
        )
        metrics.HANDLED.labels(self.group, "failed").inc(len(records))
        s = self.settings
        for p, rs in batches.items():
            state = self.retry.setdefault(p, RetryState())
            state.attempts += 1
            state.isolate_to = rs[-1].offset
            delay = errors.after_batch_failure(
                error, state.attempts, base=s.retry_base_seconds, cap=s.retry_max_seconds
            )
            state.next_at = time.monotonic() + delay
            state.last_error = text

    async def _deliver_isolated(self, partition: int, record: Record) -> None:
        state = self.retry[partition]
        error = await self.handle([record])
        message = record.message
        s = self.settings
        decision = (
            None
            if error is None
            else errors.after_failure(
                error,
                record.attempt,
                max_attempts=s.max_attempts,
                base=s.retry_base_seconds,
                cap=s.retry_max_seconds,
            )
        )
        if error is not None and decision is not None and not decision.dead_letter:
            text = errors.describe(error)
            metrics.HANDLED.labels(self.group, "failed").inc()
            _log.warning(
                "bus_retry",
                group=self.group,
                message_id=message.id,
                offset=record.offset,
                attempt=record.attempt,
                error=text,
            )
            state.attempts = record.attempt
            state.next_at = time.monotonic() + decision.delay
            state.last_error = text
            return
        if error is None:
            await self.log.commit(partition, record)
            metrics.HANDLED.labels(self.group, "ok").inc()
        else:
            text = errors.describe(error)
            await self.log.dead_letter(partition, record, text)
            metrics.HANDLED.labels(self.group, "dead_letter").inc()
            _log.error(
                "bus_dead_letter",
                group=self.group,
                message_id=message.id,
                topic=message.topic,
                offset=record.offset,
                attempts=record.attempt,
                failure=decision.kind.value if decision else None,
                error=text,
                trace_key=message.headers.get("trace_key"),
            )
        if state.isolate_to is None or record.offset >= state.isolate_to:
            del self.retry[partition]  # past the failed batch: back to whole batches
        else:  # the next record was attempted once already, in the failed batch
            state.attempts, state.next_at, state.last_error = 1, 0.0, None


def _attempt(record: Record, attempt: int) -> Record:
    """The record as delivered now (an adapter may know of earlier deliveries: keep the most)."""
    return dataclasses.replace(record, attempt=max(record.attempt, attempt))


async def wait_any(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Wait for `wake`, `stop` or the timeout, whichever comes first."""
    if stop.is_set() or wake.is_set():
        return
    tasks = [asyncio.create_task(e.wait()) for e in (stop, wake)]
    try:
        await asyncio.wait(tasks, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
