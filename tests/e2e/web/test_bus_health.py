"""The overview's bus health on the NATS backend, in a real Chromium against a real `caudal api`
on a private nats-server: the outbox line, live. No worker runs the outbox relay at first, so a
customer write's event waits in the outbox and the line turns to a warning past its age; a
`caudal worker` started then forwards it and the line says the outbox is empty again."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext

from caudal.demo.traffic import cpf
from caudal.platform.auth import TokenService
from caudal.platform.settings import AuthSettings
from tests.e2e.conftest import Server, cli_env, seed_home
from tests.e2e.web.conftest import screenshot, sign_in
from tests.support.leaks import no_postmaster_left
from tests.support.nats import running_nats

Contexts = Callable[..., BrowserContext]
SECRET = "ops-ui-web-nats-secret-0123456789abcdef0123"  # the test mints with it
EMPTY = "Outbox: empty (every committed message is in JetStream)."
WARNING = re.compile(
    r"Outbox: 1 committed message\(s\) waiting for the relay \(oldest \d+ s\)\. Older than 1 s:"
    r" the relay is not forwarding; check that NATS is reachable and a `caudal worker`"
    r" \(or `caudal up`\) runs\."
)


@pytest.fixture(scope="module")
def nats_env() -> Iterator[dict[str, str]]:
    """The private nats-server, and a signing secret the test mints its token with in-process."""
    with running_nats() as server:
        yield {
            "CAUDAL_BUS__BACKEND": "nats",
            "CAUDAL_BUS__NATS_URL": server.url,
            "CAUDAL_AUTH__SECRET": SECRET,
        }


@pytest.fixture(scope="module")
def nats_home(tmp_path_factory: pytest.TempPathFactory, migrated_pgdata: Path) -> Path:
    home = tmp_path_factory.mktemp("web-nats") / "home"
    seed_home(home, migrated_pgdata)  # the outbox line is this test's subject, not a first start
    return home


@pytest.fixture(scope="module")
def nats_api(nats_home: Path, nats_env: dict[str, str]) -> Iterator[Server]:
    """`caudal api` alone: it serves the dashboard and writes the outbox, but relays nothing."""
    running = Server(
        nats_home,
        command="api",
        CAUDAL_WEB__OUTBOX_WARN_SECONDS="1",
        CAUDAL_WEB__STREAM_INTERVAL_SECONDS="0.5",
        **nats_env,
    )
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()
        no_postmaster_left(nats_home)


def test_the_outbox_line_warns_while_nothing_relays_and_clears_once_a_worker_does(
    nats_home: Path, nats_env: dict[str, str], nats_api: Server, new_context: Contexts
) -> None:
    token = TokenService(AuthSettings(), SECRET).mint("ops", ["monitor:read", "customers:pii"], 600)
    page = new_context().new_page()
    sign_in(page, nats_api.base_url, token)
    line = page.locator("#outbox-line")
    page.wait_for_selector("#live-status[data-state=live]")
    assert line.is_visible() and line.inner_text() == EMPTY
    assert line.get_attribute("data-state") == "ok"

    customer = {
        "nome": "Otávio Caixa de Saída",
        "cpf": cpf(random.Random(20261203)),
        "data_nascimento": "1979-08-30",
        "endereco": {"uf": "RJ", "cidade": "Niterói", "longadouro": "Rua da Fila", "numero": 1},
    }
    created = httpx.post(
        nats_api.base_url + "/clientes",
        json=customer,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        trust_env=False,
    )
    assert created.status_code == 201, created.text  # its `customers.*` event is in the outbox
    page.wait_for_selector("#outbox-line[data-state=warning]")
    assert WARNING.fullmatch(line.inner_text()), line.inner_text()
    screenshot(page, "overview-outbox-warning")

    worker = subprocess.Popen(  # one small group: its process runs the relay all the same
        [sys.executable, "-m", "caudal", "worker", "--group", "webhook"],
        env=cli_env(nats_home, **nats_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page.wait_for_selector("#outbox-line[data-state=ok]")  # the worker's relay forwarded it
        assert line.inner_text() == EMPTY
    finally:
        worker.terminate()
        worker.wait(timeout=30)
