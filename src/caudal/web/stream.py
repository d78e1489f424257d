"""The overview as Server-Sent Events: a snapshot now, then one every few seconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import StreamingResponse

from caudal.platform.db.pool import DatabaseUnavailable
from caudal.platform.http.deps import container
from caudal.web.deps import data_session, session_store
from caudal.web.overview import pick_range
from caudal.web.sessions import SessionStore, WebSession
from caudal.web.snapshot import overview_snapshot
from caudal.web.sources.fetch import Reader

router = APIRouter(include_in_schema=False)

SESSION_CHECK_SECONDS = 10.0


def sse(event: str, data: object) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _ended(store: SessionStore, session: WebSession) -> bool:
    try:
        return not await store.alive(session)
    except DatabaseUnavailable:
        return False  # cannot tell now; the next check will


@router.get("/ui/stream/overview", summary="Live overview figures (text/event-stream).")
async def overview_stream(
    request: Request, session: Annotated[WebSession, Depends(data_session)]
) -> StreamingResponse:
    settings = container(request).settings.web
    reader = Reader(request.app, session, getattr(request.state, "trace_key", None))
    store = session_store(request)
    span = pick_range(request.query_params.get("range"))

    async def events() -> AsyncIterator[bytes]:
        # Bounded: the browser reconnects by itself, and a server shutdown never waits long.
        started = checked = time.monotonic()
        yield b"retry: 1500\n\n"
        while time.monotonic() - started < settings.stream_max_seconds:
            if await request.is_disconnected():
                return
            if time.monotonic() - checked >= SESSION_CHECK_SECONDS:
                checked = time.monotonic()
                if await _ended(store, session):
                    yield sse("signed-out", {"login": "/login"})
                    return
            try:
                yield sse("overview", await overview_snapshot(reader, span=span))
            except DatabaseUnavailable:
                yield sse("unavailable", {"detail": "the database is unavailable; retrying"})
            await asyncio.sleep(settings.stream_interval_seconds)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
