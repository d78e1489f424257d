"""Real HTTP servers on 127.0.0.1 for the pipelines: the FakeStore app, and a misbehaving API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import uvicorn

from caudal.pipelines.fakestore.server import create_app, fixture_dir
from caudal.pipelines.model import RunRequest
from caudal.pipelines.runner import Runner
from caudal.pipelines.runs import RunRecord
from caudal.platform.bootstrap import Container
from caudal.platform.settings import PipelinesSettings, Settings
from tests.e2e.conftest import free_port


class FakeStoreServer:
    """`caudal fakestore serve`'s app under uvicorn, in a thread."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(data_dir),
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> FakeStoreServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the FakeStore server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def fakestore() -> Iterator[FakeStoreServer]:
    with FakeStoreServer() as server:
        yield server


@pytest.fixture
def serve_data(tmp_path: Path) -> Iterator[Callable[..., FakeStoreServer]]:
    """`serve_data(carts=[...], products=[...], users=[...])`: a FakeStore API over that data
    (any list not given is the shipped fixture's)."""
    started: list[FakeStoreServer] = []

    def start(**lists: list[dict[str, object]]) -> FakeStoreServer:
        folder = tmp_path / f"fakestore-{len(started)}"
        folder.mkdir()
        for name in ("carts", "products", "users"):
            source = fixture_dir() / f"{name}.json"
            data = json.dumps(lists[name]) if name in lists else source.read_text()
            (folder / f"{name}.json").write_text(data)
        server = FakeStoreServer(folder).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"[]"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    delay_s: float = 0.0


class ScriptedAPI:
    """A real HTTP server answering each path from a script of replies (the last one repeats);
    paths without a script get the shipped fixture."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.hits: dict[str, int] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                api.hits[path] = api.hits.get(path, 0) + 1
                script = api.scripts.get(path)
                if script:
                    reply = script.pop(0) if len(script) > 1 else script[0]
                else:
                    reply = Reply(body=(fixture_dir() / f"{path.strip('/')}.json").read_bytes())
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted() -> Iterator[ScriptedAPI]:
    api = ScriptedAPI()
    yield api
    api.close()


def with_pipelines(settings: Settings, **conf: object) -> Settings:
    """The test settings with pipelines settings on top (fast retries by default)."""
    base: dict[str, object] = {
        "http_timeout_seconds": 5.0,
        "http_retries": 2,
        "http_backoff_seconds": 0.01,
        "schedule_enabled": False,
    }
    base.update(conf)
    return settings.model_copy(update={"pipelines": PipelinesSettings.model_validate(base)})


async def run_once(
    container: Container, settings: Settings, run_date: str, **request: object
) -> RunRecord:
    from datetime import date

    runner = Runner(settings, container.app_url)
    record = await runner.run(
        RunRequest(
            run_date=date.fromisoformat(run_date),
            source=request.pop("source", "fakestore"),  # type: ignore[arg-type]
            trigger=request.pop("trigger", "cli"),  # type: ignore[arg-type]
            requested_by="tester",
            **request,  # type: ignore[arg-type]
        )
    )
    assert record is not None
    return record
