"""`caudal up`'s worker processes: kept running as long as the API runs, never outliving it.

On a machine with two cores or more, `caudal up` serves the API in its own process and runs the
bus workers and the scheduler in a child (`caudal up-worker`, hidden), so the sinks get a core
of their own instead of sharing one interpreter with the requests. The parent owns what it
started (the embedded PostgreSQL, the port); the child reaches the same database and home.

- The child's stdin is a pipe from the parent: EOF on it (the parent exited, even by SIGKILL)
  makes the child stop gracefully, so it is never left orphaned.
- SIGTERM on the parent: uvicorn drains the API, then the child gets SIGTERM, then SIGKILL
  after `CAUDAL_HTTP__GRACEFUL_SHUTDOWN_SECONDS`.
- A child that exits on its own is started again after 1, 2, 4 ... 30 s (back to 1 s once one
  ran for a minute), counted in `caudal_up_worker_restarts_total` and logged as the error
  `worker_process_failing` with its exit code. It never takes the API down.
- A socket pair links the two: the child announces it is running (its services started), and
  answers the parent's requests for its metrics (`platform.metrics_merge`).

Frames, child to parent: `>QI` (request id, length) then the payload; id 0 (no payload) is the
announcement. Parent to child: `>Q`, the id of a metrics request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import structlog
from prometheus_client import Counter, generate_latest

_log = structlog.get_logger("caudal.up")

RESTARTS = Counter(
    "caudal_up_worker_restarts_total",
    "Times `caudal up` started a worker process again after it exited on its own.",
    ["process"],
)

CHANNEL_FD_ENV = "CAUDAL_UP_WORKER_CHANNEL_FD"  # the child's end of the socket pair
_REPLY = struct.Struct(">QI")
_REQUEST = struct.Struct(">Q")
METRICS_TIMEOUT_S = 2.0  # a child slower than this is left out of that scrape
READY_TIMEOUT_S = 60.0


class Backoff:
    """Delays before each restart: 1, 2, 4 ... `cap` s; back to `first` after a run that
    lasted `reset_after_s` (a crash now and then is not a crash loop)."""

    def __init__(self, first: float = 1.0, cap: float = 30.0, reset_after_s: float = 60.0):
        self.first, self.cap, self.reset_after_s = first, cap, reset_after_s
        self._next = first

    def delay(self, ran_s: float) -> float:
        """The pause before starting again a process that ran `ran_s` seconds."""
        if ran_s >= self.reset_after_s:
            self._next = self.first
        delay, self._next = self._next, min(self._next * 2, self.cap)
        return delay


def roles_of(index: int) -> frozenset[str]:
    """The first worker process runs the scheduler too; more of them only add bus workers
    (the groups share their partitions)."""
    return frozenset({"worker", "scheduler"}) if index == 1 else frozenset({"worker"})


class _Channel:
    """The parent's end of one child's socket pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._pending: dict[int, asyncio.Future[bytes | None]] = {}
        self._ids = 0
        self.running = asyncio.Event()
        self.closed = False

    async def read_replies(self) -> None:
        try:
            while True:
                request, length = _REPLY.unpack(await self._reader.readexactly(_REPLY.size))
                payload = await self._reader.readexactly(length)
                if request == 0:
                    self.running.set()
                    continue
                waiting = self._pending.pop(request, None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the child exited
        finally:
            self.close()

    async def metrics(self) -> bytes | None:
        if self.closed or not self.running.is_set():
            return None
        self._ids += 1
        request = self._ids
        answer: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._pending[request] = answer
        try:
            self._writer.write(_REQUEST.pack(request))
            await self._writer.drain()
            return await asyncio.wait_for(answer, METRICS_TIMEOUT_S)
        except (TimeoutError, ConnectionError):
            return None
        finally:
            self._pending.pop(request, None)

    def close(self) -> None:
        self.closed = True
        self.running.clear()
        for waiting in self._pending.values():
            if not waiting.done():
                waiting.set_result(None)  # the scrape goes on without this process
        self._pending.clear()
        self._writer.close()


class WorkerProcess:
    """A `caudal up` worker child, as a service of the API process (role "supervisor"): run
    by `run` until stopped, started again when it exits."""

    role = "supervisor"
    group: str | None = None

    def __init__(
        self,
        index: int,
        command: Sequence[str],
        env: Mapping[str, str],
        graceful_s: float,
        backoff: Backoff | None = None,
    ) -> None:
        self.index = index
        self.name = f"worker-{index}"
        self.command = list(command)
        self.env = dict(env)
        self.graceful_s = graceful_s
        self.backoff = backoff or Backoff()
        self.pid: int | None = None
        self._channel: _Channel | None = None
        self._running = asyncio.Event()

    async def metrics(self) -> bytes | None:
        channel = self._channel
        return None if channel is None else await channel.metrics()

    async def wait_running(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Return once the child announced it runs its services; `WorkerNotRunning` after
        `timeout_s`."""
        try:
            await asyncio.wait_for(self._running.wait(), timeout_s)
        except TimeoutError:
            refused = WorkerNotRunning(self.name, timeout_s)
            _log.error("worker_process_not_running", worker=self.name, error=str(refused))
            raise refused from None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            code = await self._run_once(stop)
            if stop.is_set():
                return
            delay = self.backoff.delay(time.monotonic() - started)
            RESTARTS.labels(self.name).inc()
            _log.error(
                "worker_process_failing",
                worker=self.name,
                exit_code=code,
                restart_in_s=delay,
                hint="its own log lines above say why; the API keeps serving meanwhile",
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _run_once(self, stop: asyncio.Event) -> int:
        mine, theirs = socket.socketpair()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                env={**self.env, CHANNEL_FD_ENV: str(theirs.fileno())},
                pass_fds=(theirs.fileno(),),
                # a terminal's Ctrl-C reaches the parent only: it stops the child after draining
                start_new_session=True,
            )
        finally:
            theirs.close()
        self.pid = proc.pid
        reader, writer = await asyncio.open_unix_connection(sock=mine)
        channel = self._channel = _Channel(reader, writer)
        replies = asyncio.create_task(channel.read_replies(), name=f"{self.name}-channel")
        announced = asyncio.create_task(self._relay_running(channel))
        exited = asyncio.create_task(proc.wait())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():
                _log.info("worker_process_stopping", worker=self.name, pid=proc.pid)
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.shield(exited), self.graceful_s)
                except TimeoutError:
                    _log.warning("worker_process_killed", worker=self.name, pid=proc.pid)
                    proc.kill()
            return await exited
        finally:
            if proc.returncode is None:  # cancelled: no process outlives its supervisor
                proc.kill()
                await proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()
            for task in (stopping, announced, replies):
                task.cancel()
            channel.close()
            self._running.clear()
            self.pid = None

    async def _relay_running(self, channel: _Channel) -> None:
        await channel.running.wait()
        self._running.set()
        _log.info("worker_process_running", worker=self.name)


class WorkerNotRunning(RuntimeError):
    def __init__(self, name: str, timeout_s: float) -> None:
        super().__init__(
            f"the worker process {name} (`caudal up-worker`) was not running after "
            f"{timeout_s:.0f}s: its log lines above say why. Fix that and start again, or run "
            "everything in one process with CAUDAL_UP__WORKER_PROCESSES=0"
        )


def worker_command(index: int) -> list[str]:
    return [sys.executable, "-m", "caudal", "up-worker", "--index", str(index)]


class ChildLink:
    """The child's side: stop when the parent goes (EOF on stdin), announce it runs, and
    answer metrics requests on the socket pair the parent passed."""

    def __init__(self, channel_fd: int | None) -> None:
        self._channel_fd = channel_fd
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_environment(cls) -> ChildLink:
        found = os.environ.get(CHANNEL_FD_ENV)
        return cls(int(found) if found else None)

    def watch_parent(self, stop: Callable[[], None]) -> None:
        """Call `stop` when stdin reaches EOF (the parent holds its other end)."""
        loop = asyncio.get_running_loop()
        fd = sys.stdin.fileno()

        def readable() -> None:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(fd)
                _log.info("parent_process_gone", hint="stopping the worker process")
                stop()

        os.set_blocking(fd, False)
        loop.add_reader(fd, readable)

    async def announce_running(self) -> None:
        if self._channel_fd is None:
            return
        reader, writer = await asyncio.open_unix_connection(
            sock=socket.socket(fileno=self._channel_fd)
        )
        self._writer = writer
        writer.write(_REPLY.pack(0, 0))
        await writer.drain()
        self._tasks.append(asyncio.create_task(self._answer(reader, writer)))

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                (request,) = _REQUEST.unpack(await reader.readexactly(_REQUEST.size))
                body = generate_latest()
                writer.write(_REPLY.pack(request, len(body)) + body)
                await writer.drain()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._writer is not None:
            self._writer.close()
