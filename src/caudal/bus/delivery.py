"""The delivery rules of a consumer group member, apart from where the log lives.

Each cycle hands the consumer one batch made of the next records of every partition the member
holds and may work on now, then commits each partition past its records. A failed batch puts its
partitions in isolation: their records are retried one at a time with exponential backoff until
the end of the failed batch, so a poison message alone goes to the dead letters (at once when
its failure is permanent, after `max_attempts` deliveries otherwise: `bus/errors.py`) and the
partition moves on. `BatchDelivery` is these rules, `Positions` where they keep their state:
`Delivery` keeps it in the member (the in-memory and NATS adapters), the PostgreSQL adapter in
its `bus.offsets` (`postgres_consumer.py`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
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


class Positions(Protocol):
    """Where a group keeps its positions and retry state: the moves after each delivery.

    Moving past a record (`advance`, `dead_letter`) also ends the isolation of its partition
    once past the failed batch; until then the next record counts one attempt already made.
    """

    async def advance(self, through: Mapping[int, Record]) -> None:
        """Every partition is done up to and including its record."""

    async def hold(
        self, failed: Mapping[int, Record], error: BaseException, delay: float | None
    ) -> None:
        """Count a failed attempt, isolate each partition up to its record (the end of the
        failed batch) and wait `delay` before the next attempt (None: the batch policy)."""

    async def dead_letter(self, partition: int, record: Record, error: str) -> None:
        """Keep `record` as a dead letter with its last error, and move past it."""


class BatchDelivery:
    """The delivery rules, whatever keeps the positions: one batch for the partitions in normal
    flow, then one record at a time for each isolated partition."""

    def __init__(self, consumer: Consumer, positions: Positions, settings: BusSettings) -> None:
        self.consumer = consumer
        self.group = consumer.group
        self.positions = positions
        self.settings = settings
        self.batch_size = int(getattr(consumer, "batch_size", settings.batch_size))

    async def deliver(
        self, normal: Mapping[int, Sequence[Record]], isolated: Mapping[int, Record]
    ) -> None:
        if normal:
            await self._deliver(normal)
        for p, record in isolated.items():
            await self._deliver_isolated(p, record)

    async def handle(self, records: Sequence[Record]) -> BaseException | None:
        started = time.perf_counter()
        try:
            await self.consumer.handle(records)
        except Exception as exc:
            return exc
        finally:
            metrics.HANDLE_SECONDS.labels(self.group).observe(time.perf_counter() - started)
        return None

    async def _deliver(self, batches: Mapping[int, Sequence[Record]]) -> None:
        records = [r for rs in batches.values() for r in rs]
        error = await self.handle(records)
        if error is None:
            await self.positions.advance({p: rs[-1] for p, rs in batches.items()})
            metrics.HANDLED.labels(self.group, "ok").inc(len(records))
            return
        _log.warning(
            "bus_batch_failed",
            group=self.group,
            records=len(records),
            partitions=sorted(batches),
            error=errors.describe(error),
        )
        metrics.HANDLED.labels(self.group, "failed").inc(len(records))
        await self.positions.hold({p: rs[-1] for p, rs in batches.items()}, error, None)

    async def _deliver_isolated(self, partition: int, record: Record) -> None:
        error = await self.handle([record])
        if error is None:
            await self.positions.advance({partition: record})
            metrics.HANDLED.labels(self.group, "ok").inc()
            return
        message = record.message
        s = self.settings
        decision = errors.after_failure(
            error,
            record.attempt,
            max_attempts=s.max_attempts,
            base=s.retry_base_seconds,
            cap=s.retry_max_seconds,
        )
        text = errors.describe(error)
        if not decision.dead_letter:
            metrics.HANDLED.labels(self.group, "failed").inc()
            _log.warning(
                "bus_retry",
                group=self.group,
                message_id=message.id,
                offset=record.offset,
                attempt=record.attempt,
                error=text,
            )
            await self.positions.hold({partition: record}, error, decision.delay)
            return
        await self.positions.dead_letter(partition, record, text)
        metrics.HANDLED.labels(self.group, "dead_letter").inc()
        _log.error(
            "bus_dead_letter",
            group=self.group,
            message_id=message.id,
            topic=message.topic,
            offset=record.offset,
            attempts=record.attempt,
            failure=decision.kind.value,
            error=text,
            trace_key=message.headers.get("trace_key"),
        )


@dataclass
class RetryState:
    """A partition after a failed batch: attempts of the next record, until when to isolate."""

    attempts: int = 0
    isolate_to: int | None = None  # offset of the last record of the failed batch
    next_at: float = 0.0  # time.monotonic() of the next attempt
    last_error: str | None = None


class Delivery(BatchDelivery):
    """The delivery rules with the retry state kept in the member, positions in a `PartitionLog`
    (the in-memory and NATS adapters)."""

    def __init__(self, consumer: Consumer, log: PartitionLog, settings: BusSettings) -> None:
        super().__init__(consumer, self, settings)
        self.log = log
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
        await self.deliver(normal, isolated)
        return bool(normal or isolated)

    # -- Positions ---------------------------------------------------------------------------

    async def advance(self, through: Mapping[int, Record]) -> None:
        for p, record in through.items():
            await self.log.commit(p, record)
            self._moved_past(p, record)

    async def hold(
        self, failed: Mapping[int, Record], error: BaseException, delay: float | None
    ) -> None:
        s = self.settings
        for p, record in failed.items():
            state = self.retry.setdefault(p, RetryState())
            if delay is None:  # a whole batch failed
                state.attempts += 1
                state.isolate_to = record.offset
                wait = errors.after_batch_failure(
                    error, state.attempts, base=s.retry_base_seconds, cap=s.retry_max_seconds
                )
            else:
                state.attempts, wait = record.attempt, delay
            state.next_at = time.monotonic() + wait
            state.last_error = errors.describe(error)

    async def dead_letter(self, partition: int, record: Record, error: str) -> None:
        await self.log.dead_letter(partition, record, error)
        self._moved_past(partition, record)

    def _moved_past(self, partition: int, record: Record) -> None:
        state = self.retry.get(partition)
        if state is None:
            return
        if state.isolate_to is None or record.offset >= state.isolate_to:
            del self.retry[partition]  # past the failed batch: back to whole batches
        else:  # the next record was attempted once already, in the failed batch
            state.attempts, state.next_at, state.last_error = 1, 0.0, None


def _attempt(record: Record, attempt: int) -> Record:
    """The record as delivered now (an adapter may know of earlier deliveries: keep the most)."""
    return dataclasses.replace(record, attempt=max(record.attempt, attempt))


async def wait_any(stop: asyncio.Event, wake: asyncio.Event | None, seconds: float) -> bool:
    """Wait for `wake`, `stop` or the timeout, whichever comes first; True when woken by `wake`."""
    events = [stop] if wake is None else [stop, wake]
    if not any(e.is_set() for e in events):
        tasks = [asyncio.create_task(e.wait()) for e in events]
        try:
            await asyncio.wait(
                tasks, timeout=max(seconds, 0.0), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return wake is not None and wake.is_set()
