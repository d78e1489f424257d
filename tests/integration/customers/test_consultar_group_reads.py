"""`/clientes/{cpf}/consultar`'s group reads against the real PostgreSQL: concurrent requests
share statements, a request sees every projection and erasure committed before it (even with a
read of the same CPF in flight), a broken connection answers every request of its batch 503 as
the pool did and the next batch is served, a client gone breaks nothing, and the reader's
connections open on the first request and close with the app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import httpx
import psycopg

from caudal.customers.base_c.sink import CustomersActivitySink
from caudal.customers.base_c.store import CONSULTAR_READS
from caudal.customers.context import customers_of
from caudal.customers.crypto import blind
from caudal.customers.events import ERASED, customer_event
from caudal.events.model import CanonicalEvent
from caudal.platform.bootstrap import Container
from caudal.platform.db.batched_reads import BatchedReads
from caudal.platform.db.pool import AsyncConn
from caudal.platform.settings import Settings
from tests.integration.customers.conftest import CPF_1, CPF_2, CPF_3
from tests.integration.customers.test_base_c import (
    LATER_PURCHASE,
    LATER_PURCHASE_BYTES,
    SEED_002_BYTES,
    SEED_002_EVENTS,
    Auth,
    _auth,
    _served,
    consulta,
)
from tests.integration.hostile.conftest import assert_problem

Read = Callable[[AsyncConn, list[bytes]], Awaitable[Mapping[bytes, bytes]]]


class Spy:
    """Wraps the reader's statement: records each batch's keys; with `hold` set, the next
    statement's rows (already read: its snapshot taken) are handed back only once `release` is
    set, a round trip still in flight as far as the loader knows."""

    def __init__(self, reads: BatchedReads[bytes, bytes]) -> None:
        self.real: Read = reads.read
        self.batches: list[list[bytes]] = []
        self.hold = False
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self.busy_pid = 0
        reads.read = self.read

    async def read(self, conn: AsyncConn, keys: list[bytes]) -> Mapping[bytes, bytes]:
        self.batches.append(list(keys))
        found = await self.real(conn, keys)
        if self.hold:
            self.hold = False
            self.busy_pid = conn.info.backend_pid
            self.holding.set()
            await self.release.wait()
        return found


def get(client: httpx.AsyncClient, auth: Auth, cpf: str) -> asyncio.Future[httpx.Response]:
    return asyncio.ensure_future(
        client.get(f"/clientes/{cpf}/consultar", headers=auth("customers:activity"))
    )


async def queued(spy: Spy, requests: int) -> None:
    """Let `requests` more requests reach the loader's queue (an in-process app: a few loop
    turns each)."""
    for _ in range(50 * requests):
        await asyncio.sleep(0)


async def test_concurrent_requests_share_statements_and_each_gets_its_own_answer(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    state = customers_of(container)
    await CustomersActivitySink(state).write(
        [*SEED_002_EVENTS, consulta("o1", "2026-01-10", empresa="Outro Banco", cpf=CPF_2)]
    )
    spy = Spy(state.consultas)
    cpfs = [CPF_1, CPF_2, CPF_3] * 15
    answers = await asyncio.gather(*(get(client, auth, cpf) for cpf in cpfs))
    for cpf, answer in zip(cpfs, answers, strict=True):
        if cpf == CPF_3:  # no activity
            assert_problem(answer, 404, "CAU-CUSTOMERS-NO-ACTIVITY", None)
        else:
            assert answer.status_code == 200
            assert set(answer.headers) == {"content-type", "content-length", "x-trace-key"}
        if cpf == CPF_1:
            assert answer.content == SEED_002_BYTES
        if cpf == CPF_2:
            assert b"Outro Banco" in answer.content
    assert sum(len(batch) for batch in spy.batches) < len(cpfs)  # duplicates fetched once
    assert len(spy.batches) < len(cpfs) / 3
    assert max(len(batch) for batch in spy.batches) == 3


async def test_a_request_sees_what_was_committed_before_it_even_with_that_cpf_in_flight(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    state = customers_of(container)
    sink = CustomersActivitySink(state)
    await sink.write(SEED_002_EVENTS)
    spy = Spy(state.consultas)

    spy.hold = True
    early = get(client, auth, CPF_1)
    await asyncio.wait_for(spy.holding.wait(), 5)  # its statement ran: the old row read
    await sink.write([LATER_PURCHASE])  # a projection commits while that read is in flight
    late = get(client, auth, CPF_1)
    await queued(spy, 1)
    spy.release.set()
    assert (await early).content == SEED_002_BYTES
    assert (await late).content == LATER_PURCHASE_BYTES

    spy.hold, spy.holding, spy.release = True, asyncio.Event(), asyncio.Event()
    early = get(client, auth, CPF_1)
    await asyncio.wait_for(spy.holding.wait(), 5)
    index = blind.cpf_index(state.vault.keys.index_key, CPF_1)
    erased = customer_event(ERASED, "00000000-0000-4000-8000-000000000001", index, None)
    await sink.write([CanonicalEvent.from_dict(erased.payload)])  # the erasure returns
    late = get(client, auth, CPF_1)
    await queued(spy, 1)
    spy.release.set()
    assert (await early).content == LATER_PURCHASE_BYTES  # asked before the erasure
    assert_problem(await late, 404, "CAU-CUSTOMERS-NO-ACTIVITY", None)


async def a_batch_behind_a_read_in_flight(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> tuple[Spy, asyncio.Future[httpx.Response], list[asyncio.Future[httpx.Response]]]:
    """CPF_1 projected; a request for it whose statement has run and is held in flight, and
    three requests (CPF_1, CPF_2 without activity, CPF_1) queued for the next batch."""
    state = customers_of(container)
    await CustomersActivitySink(state).write(SEED_002_EVENTS)
    spy = Spy(state.consultas)
    spy.hold = True
    first = get(client, auth, CPF_1)
    await asyncio.wait_for(spy.holding.wait(), 5)
    batch = [get(client, auth, cpf) for cpf in (CPF_1, CPF_2, CPF_1)]
    await queued(spy, 3)
    return spy, first, batch


async def test_a_broken_connection_answers_its_whole_batch_503_and_the_next_batch_is_served(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    spy, first, batch = await a_batch_behind_a_read_in_flight(client, auth, container)
    with psycopg.connect(container.owner_url, autocommit=True) as owner:
        owner.execute("SELECT pg_terminate_backend(%s)", (spy.busy_pid,))
    spy.release.set()
    assert (await first).content == SEED_002_BYTES  # read before the connection was killed
    for answer in await asyncio.gather(*batch):
        assert_problem(answer, 503, "CAU-UNAVAILABLE", None)  # as the pool's route answered
        assert int(answer.headers["retry-after"]) > 0
    assert len(spy.batches) == 2 and len(spy.batches[1]) == 2
    assert (await get(client, auth, CPF_1)).content == SEED_002_BYTES  # a new connection


async def test_a_client_gone_leaves_the_batch_to_the_others(
    client: httpx.AsyncClient, auth: Auth, container: Container
) -> None:
    spy, first, batch = await a_batch_behind_a_read_in_flight(client, auth, container)
    first.cancel()  # its statement in flight
    batch[0].cancel()  # queued in the next batch
    spy.release.set()
    answers = await asyncio.gather(*batch[1:])
    assert_problem(answers[0], 404, "CAU-CUSTOMERS-NO-ACTIVITY", None)
    assert answers[1].content == SEED_002_BYTES
    assert first.cancelled() and batch[0].cancelled()
    assert (await get(client, auth, CPF_1)).content == SEED_002_BYTES


def _backends(url: str) -> int:
    """The reader's connections the server holds."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (CONSULTAR_READS,),
        ).fetchone()
    return int(str(row[0])) if row else 0


async def test_the_reader_connects_on_the_first_request_and_closes_with_the_app(
    settings: Settings,
) -> None:
    async with _served(settings) as (container, client):
        assert _backends(container.owner_url) == 0  # started, not asked: no connection
        answer = await get(client, _auth(container), CPF_1)
        assert_problem(answer, 404, "CAU-CUSTOMERS-NO-ACTIVITY", None)
        assert _backends(container.owner_url) == 1
    for _ in range(100):  # the backend exits just after the client closed its end
        if _backends(container.owner_url) == 0:
            break
        await asyncio.sleep(0.05)
    assert _backends(container.owner_url) == 0
