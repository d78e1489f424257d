"""The delivery rules of a consumer group member, apart from where the log lives.

Each cycle hands the consumer one batch made of the next records of every partition the member
holds and may work on now, then commits each partition past its records. A failed batch puts its
partitions in isolation: their records are retried one at a time with exponential backoff until
the end of the failed batch, so a poison message alone goes to the dead letters (at once when
its failure is permanent, after `max_attempts` deliveries otherwise: `bus/errors.py`) and the
partition moves on. `BatchDelivery` is these rules, `Positions` where they keep their state:
`Delivery` keeps it in the member (the in-memory and NATS adapters), the PostgreSQL adapter in
its `bus.offsets` (`postgres_consumer.py`).

A consumer with a kind filter (`Filtering`) is not handed the messages the filter leaves out;
the cycle still moves past them (`Positions.advance` past the rest of the window it read,
`pass_over` when nothing in a partition's window was for the group), so they are never read
again and never count as lag. The PostgreSQL adapter filters in its fetch; here (memory, NATS)
the records are read and the filter applied before the handler.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec
import structlog

from caudal.bus import errors, metrics
from caudal.platform.bus.model import KindFilter, Record
from caudal.platform.bus.port import Consumer, Filtering
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
        """Every partition is done up to and including its record, and past the messages the
        cycle read after it and left out by the consumer's kind filter."""

    async def pass_over(self, partitions: Sequence[int]) -> None:
        """Nothing the cycle read on these partitions was for the group: move past all of it."""

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
        self,
        normal: Mapping[int, Sequence[Record]],
        isolated: Mapping[int, Record],
        passed: Sequence[int] = (),
    ) -> None:
        """`passed`: partitions whose window held nothing for the group (kind filter)."""
        if normal:
            await self._deliver(normal)
        for p, record in isolated.items():
            await self._deliver_isolated(p, record)
        if passed:
            await self.positions.pass_over(passed)

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
        # Per partition, this cycle: (offset of the last record handed over, the last record read)
        # when the kind filter left out what was read after it (None: nothing was handed over).
        self._skipped: dict[int, tuple[int | None, Record]] = {}

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
        kinds = kinds_of(self.consumer)
        normal: dict[int, list[Record]] = {}
        isolated: dict[int, Record] = {}
        self._skipped.clear()
        for p in ready:
            state = self.retry.get(p)
            # isolated after a failed batch: one record at a time, attempted this many times
            attempt = state.attempts + 1 if state and state.isolate_to is not None else None
            read = await self.log.read(p, 1 if attempt else per_partition)
            records = self._taken(p, read, kinds)
            if not records:
                continue
            if attempt:
                isolated[p] = _attempt(records[0], attempt)
            else:
                normal[p] = [_attempt(r, 1) for r in records]
        passed = [p for p, (last, _) in self._skipped.items() if last is None]
        await self.deliver(normal, isolated, passed)
        return bool(normal or isolated or passed)

    def _taken(self, partition: int, read: list[Record], kinds: KindFilter | None) -> list[Record]:
        """What the consumer gets of the records read; notes a window that ends in records left
        out, so the commit moves past them."""
        if kinds is None or not read:
            return read
        taken = [r for r in read if kinds.takes(r.message.payload)]
        if not taken or taken[-1] is not read[-1]:
            self._skipped[partition] = (taken[-1].offset if taken else None, read[-1])
        return taken

    # -- Positions ---------------------------------------------------------------------------

    async def advance(self, through: Mapping[int, Record]) -> None:
        for p, record in through.items():
            skipped = self._skipped.get(p)
            if skipped is not None and skipped[0] == record.offset:
                record = skipped[1]  # the records read after it were left out
            await self.log.commit(p, record)
            self._moved_past(p, record)

    async def pass_over(self, partitions: Sequence[int]) -> None:
        for p in partitions:
            await self.advance({p: self._skipped[p][1]})

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


def kinds_of(consumer: Consumer) -> KindFilter | None:
    """The consumer's kind filter now (None: it takes everything)."""
    return consumer.kinds() if isinstance(consumer, Filtering) else None


def _attempt(record: Record, attempt: int) -> Record:
    """The record as delivered now (an adapter may know of earlier deliveries: keep the most)."""
    return msgspec.structs.replace(record, attempt=max(record.attempt, attempt))


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
