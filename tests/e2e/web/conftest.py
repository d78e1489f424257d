"""A real `caudal up` and a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.e2e.conftest import Server, caudal, free_port, seed_home

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if found:
        return found
    message = "Debian's chromium is not installed: `apt-get install -y chromium` (.ci/run does)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def web_home(tmp_path_factory: pytest.TempPathFactory, migrated_pgdata: Path) -> Path:
    """Already migrated: these tests are about the pages, not a home's first start."""
    home = tmp_path_factory.mktemp("web") / "home"
    seed_home(home, migrated_pgdata)
    return home


@pytest.fixture(scope="module")
def fakestore_process() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`caudal fakestore serve`: the FakeStore data set the pipelines page's run reads."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "caudal", "fakestore", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/users", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("caudal fakestore serve never answered")
        yield proc, url
    finally:
        proc.send_signal(signal.SIGCONT)  # a test may have paused it
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def fakestore(fakestore_process: tuple[subprocess.Popen[bytes], str]) -> str:
    return fakestore_process[1]


@pytest.fixture(scope="module")
def server(web_home: Path, fakestore: str) -> Iterator[Server]:
    running = Server(
        web_home,
        CAUDAL_PIPELINES__FAKESTORE_URL=fakestore,
        CAUDAL_PIPELINES__SCHEDULE_ENABLED="false",
    )
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def admin_token(server: Server) -> str:
    return server.admin_token()


@pytest.fixture(scope="module")
def api(server: Server, admin_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
        trust_env=False,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    opened: list[BrowserContext] = []

    def make(width: int = 1280, height: int = 900) -> BrowserContext:
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(20_000)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


def sign_in(page: Page, base_url: str, token: str, path: str = "/") -> None:
    page.goto(base_url + path)
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + path)


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: the run's tmp dir (pytest prints it with `-rA` on failure)."""
    return tmp_path_factory.mktemp("screenshots")


_SHOTS: list[Path] = []


@pytest.fixture(autouse=True)
def _screenshot_dir(shots: Path) -> None:
    _SHOTS[:] = [shots]


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG under the run's tmp dir (`shots`), named after what it shows."""
    target = _SHOTS[0] / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    return target


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def mint(home: Path, *scopes: str, subject: str) -> str:
    """A token from `caudal token`, signed with the server's secret (same CAUDAL_HOME)."""
    args = ["token", "--subject", subject, "--ttl", "1h"]
    for scope in scopes:
        args += ["--scope", scope]
    result = caudal(*args, home=home)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
