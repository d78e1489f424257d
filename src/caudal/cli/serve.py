"""Start the HTTP processes: everything on one machine (`up`: the API, and the workers in it or
in supervised child processes, `cli.supervisor`), or the API alone (`api`).

`caudal worker` and `caudal scheduler` start through `caudal.cli.services`, which never imports
this module: the HTTP stack (FastAPI, uvicorn) is a third of a worker's start-up otherwise.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import typer
import uvicorn

from caudal import wiring
from caudal.cli.console import err, fail, out
from caudal.cli.supervisor import WorkerProcess, worker_command
from caudal.cli.support import bootstrap_or_exit
from caudal.platform import capability, collector, runfile, scopes
from caudal.platform import logging as caudal_logging
from caudal.platform.bootstrap import Container
from caudal.platform.http.app import create_app
from caudal.platform.metrics_merge import PeerMetrics
from caudal.platform.settings import Settings


def bind(settings: Settings) -> socket.socket:
    """Take the port before anything is prepared or printed: a busy port fails at once, with
    the flag that picks another (uvicorn would only say so after the banner and the token)."""
    try:
        sock = socket.create_server((settings.host, settings.port), reuse_port=False)
    except OSError as exc:
        where = f"{settings.host}:{settings.port}"
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound: {exc}"
        fail(
            f"{where} {reason}",
            "stop the process using it, or choose another port with --port (CAUDAL_PORT)",
        )
        raise typer.Exit(1) from exc
    return sock


def _serve(
    container: Container,
    run_services: bool,
    sock: socket.socket,
    workers: Sequence[WorkerProcess] = (),
) -> None:
    """Serve until SIGTERM; with `workers`, run the API process's consumer groups here and the
    rest in those processes (`cli.supervisor`)."""
    settings = container.settings
    capabilities = wiring.capabilities()
    groups = capability.api_process_groups(capabilities) if workers else None
    if workers:
        container.states.provide(PeerMetrics(workers))
    config = uvicorn.Config(
        create_app(
            container, capabilities, run_services=run_services, groups=groups, companions=workers
        ),
        host=settings.host,
        port=settings.port,
        log_config=None,  # our JSON logging is already configured
        access_log=False,
        timeout_graceful_shutdown=int(settings.http.graceful_shutdown_seconds),
        server_header=False,
    )
    # uvicorn drains in-flight requests on SIGTERM, then re-raises the signal; with this handler
    # in place that re-raise becomes a clean exit, so the embedded PostgreSQL is stopped too.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        runfile.write(settings.home, settings.host, sock.getsockname()[1])
        collector.tune_for_streaming()  # the app is built: its objects live as the process does
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
        if not server.started:  # its lifespan refused to start (logged): not a clean exit
            raise typer.Exit(1)
    finally:
        runfile.remove(settings.home)
        sock.close()
        container.close_embedded()


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def run_all(settings: Settings) -> None:
    started = time.perf_counter()
    sock = bind(settings)
    container = bootstrap_or_exit(settings)
    base = f"http://{settings.host}:{settings.port}"
    admin = (
        container.tokens.mint("admin", scopes.ALL, 7 * 86400)
        if not container.tokens.uses_jwks
        else None
    )
    err.print(
        f"[bold green]caudal is starting[/] (prepared in {time.perf_counter() - started:.1f}s)"
    )
    err.print(f"  API        {base}/v1")
    err.print(f"  docs       {base}/docs")
    err.print(f"  dashboard  {base}/")
    err.print(f"  metrics    {base}/metrics")
    err.print(f"  data       {settings.home}")
    if admin:
        show_admin_token(admin, settings.home)
    count = worker_processes(settings.up.worker_processes)
    if count:
        caudal_logging.name_process("http")
        err.print(f"  processes  API + {count} worker process(es) (CAUDAL_UP__WORKER_PROCESSES)")
    _serve(container, run_services=True, sock=sock, workers=_workers(container, count))


def worker_processes(setting: int | Literal["auto"]) -> int:
    """How many worker processes `caudal up` runs: `auto` is 1 when this process may run on
    two CPUs or more (its affinity mask; a cgroup CPU quota is not read), else 0."""
    if setting != "auto":
        return setting
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 1 if (cpus or 1) >= 2 else 0


def _workers(container: Container, count: int) -> list[WorkerProcess]:
    """The worker processes, started with this process's settings: its environment, the home
    and the address it resolved, and the embedded database's URL (they reach it, this process
    owns it)."""
    settings = container.settings
    env = {
        **os.environ,
        "CAUDAL_HOME": str(settings.home),
        "CAUDAL_HOST": settings.host,
        "CAUDAL_PORT": str(settings.port),
    }
    if settings.embedded_database:
        env["CAUDAL_DATABASE_URL"] = container.owner_url
    return [
        WorkerProcess(
            index,
            worker_command(index),
            env,
            graceful_s=settings.http.graceful_shutdown_seconds,
        )
        for index in range(1, count + 1)
    ]


ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 (a file name, not a secret)


def show_admin_token(token: str, home: Path) -> None:
    """On a terminal, print the all-scope token for the person there; otherwise (a service
    manager, a pipe into a log collector) write it to a 0600 file and print only its path, so
    the token never lands in a log stream."""
    if sys.stdout.isatty():
        err.print("  admin token (7 days):")
        out.print(token, soft_wrap=True)
        return
    path = home / ADMIN_TOKEN_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode() + b"\n")
    finally:
        os.close(fd)
    os.replace(tmp, path)
    err.print(f"  admin token (7 days) in {path}", soft_wrap=True)


def run_api(settings: Settings) -> None:
    sock = bind(settings)
    _serve(bootstrap_or_exit(settings), run_services=False, sock=sock)
