"""The FakeStore API misbehaving, against a real local HTTP server: timeout, 500, 429, garbage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from caudal.pipelines.fakestore.client import FakeStoreClient
from caudal.pipelines.fakestore.server import fixture_dir
from caudal.pipelines.model import PipelineError
from caudal.platform.bootstrap import Container
from caudal.platform.settings import Settings
from tests.integration.pipelines.conftest import Reply, ScriptedAPI, run_once, with_pipelines

CARTS = (fixture_dir() / "carts.json").read_bytes()


def client(api: ScriptedAPI, waits: list[float], **options: float) -> FakeStoreClient:
    return FakeStoreClient(
        api.url,
        timeout_s=options.get("timeout_s", 2.0),
        retries=int(options.get("retries", 3)),
        backoff_s=options.get("backoff_s", 0.25),
        max_retry_after_s=options.get("max_retry_after_s", 60.0),
        sleep=waits.append,  # records the waits instead of sleeping them
    )


def test_429_with_retry_after_is_honoured(scripted: ScriptedAPI, tmp_path: Path) -> None:
    scripted.scripts["/carts"] = [
        Reply(429, b'{"error": "slow down"}', {"Retry-After": "7"}),
        Reply(body=CARTS),
    ]
    waits: list[float] = []
    with client(scripted, waits) as fakestore:
        size = fakestore.download("carts", tmp_path / "carts.json")
    assert waits == [7.0]
    assert size == len(CARTS) and (tmp_path / "carts.json").read_bytes() == CARTS
    assert scripted.hits["/carts"] == 2


def test_429_with_an_http_date_retry_after(scripted: ScriptedAPI, tmp_path: Path) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    scripted.scripts["/carts"] = [Reply(429, b"", {"Retry-After": later}), Reply(body=CARTS)]
    waits: list[float] = []
    with client(scripted, waits) as fakestore:
        fakestore.download("carts", tmp_path / "carts.json")
    assert len(waits) == 1 and 25 <= waits[0] <= 30


def test_retry_after_beyond_the_ceiling_fails_at_once(
    scripted: ScriptedAPI, tmp_path: Path
) -> None:
    scripted.scripts["/carts"] = [Reply(429, b"", {"Retry-After": "3600"})]
    waits: list[float] = []
    with (
        client(scripted, waits, max_retry_after_s=60) as fakestore,
        pytest.raises(PipelineError) as caught,
    ):
        fakestore.download("carts", tmp_path / "carts.json")
    assert waits == []
    assert caught.value.code == "CAU-PIPELINES-SOURCE-UNAVAILABLE"
    assert f"GET {scripted.url}/carts" in caught.value.detail
    assert "3600s" in caught.value.detail


def test_500s_are_retried_with_exponential_backoff(scripted: ScriptedAPI, tmp_path: Path) -> None:
    scripted.scripts["/carts"] = [Reply(500, b"oops"), Reply(503, b"oops"), Reply(body=CARTS)]
    waits: list[float] = []
    with client(scripted, waits, backoff_s=0.25) as fakestore:
        fakestore.download("carts", tmp_path / "carts.json")
    assert waits == [0.25, 0.5]
    assert scripted.hits["/carts"] == 3


def test_a_404_is_not_retried(scripted: ScriptedAPI, tmp_path: Path) -> None:
    scripted.scripts["/carts"] = [Reply(404, b"{}")]
    waits: list[float] = []
    with client(scripted, waits) as fakestore, pytest.raises(PipelineError) as caught:
        fakestore.download("carts", tmp_path / "carts.json")
    assert "HTTP 404" in caught.value.detail and waits == []
    assert scripted.hits["/carts"] == 1


async def test_an_api_that_keeps_failing_fails_the_run_naming_the_endpoint(
    container: Container, settings: Settings, scripted: ScriptedAPI
) -> None:
    scripted.scripts["/products"] = [Reply(500, b"internal error")]
    conf = with_pipelines(settings, fakestore_url=scripted.url, http_retries=2)
    record = await run_once(container, conf, "2024-06-30")
    assert record.status == "failed"
    assert record.error == {
        "code": "CAU-PIPELINES-SOURCE-UNAVAILABLE",
        "message": f"GET {scripted.url}/products failed: HTTP 500 (3 attempt(s); is the API up?)",
        "endpoint": f"{scripted.url}/products",
    }
    assert scripted.hits["/products"] == 3
    assert not (conf.home / "exports").exists()


async def test_a_timeout_fails_the_run_naming_the_endpoint(
    container: Container, settings: Settings, scripted: ScriptedAPI
) -> None:
    scripted.scripts["/carts"] = [Reply(body=CARTS, delay_s=1.0)]
    conf = with_pipelines(
        settings, fakestore_url=scripted.url, http_timeout_seconds=0.2, http_retries=1
    )
    record = await run_once(container, conf, "2024-06-30")
    assert record.status == "failed"
    assert record.error is not None
    assert record.error["code"] == "CAU-PIPELINES-SOURCE-UNAVAILABLE"
    assert record.error["message"] == (
        f"GET {scripted.url}/carts failed: timed out (2 attempt(s); is the API up?)"
    )


async def test_an_api_that_is_down_fails_the_run(container: Container, settings: Settings) -> None:
    from tests.e2e.conftest import free_port

    down = f"http://127.0.0.1:{free_port()}"
    conf = with_pipelines(settings, fakestore_url=down, http_retries=1)
    record = await run_once(container, conf, "2024-06-30")
    assert record.status == "failed" and record.error is not None
    assert record.error["message"] == (
        f"GET {down}/carts failed: connection failed (ConnectError) (2 attempt(s); is the API up?)"
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'[{"id": 1, "userId": 1, "date": "2020-01-01", "products": [', "Malformed JSON"),
        (b'{"message": "maintenance"}', "Expected top-level JSON array"),
        (b'[{"id": "one", "userId": 1}]', "Failed to cast value to numerical"),
    ],
)
async def test_malformed_json_fails_the_run_naming_the_endpoint(
    container: Container, settings: Settings, scripted: ScriptedAPI, body: bytes, why: str
) -> None:
    scripted.scripts["/carts"] = [Reply(body=body)]
    conf = with_pipelines(settings, fakestore_url=scripted.url)
    record = await run_once(container, conf, "2024-06-30")
    assert record.status == "failed" and record.error is not None
    assert record.error["code"] == "CAU-PIPELINES-SOURCE-MALFORMED"
    assert record.error["message"].startswith(
        f"GET {scripted.url}/carts answered something that is not the expected JSON: "
    )
    assert why in record.error["message"]
    assert "staging" not in record.error["message"]  # no local path leaks
    assert scripted.hits["/carts"] == 1  # garbage is not retried


async def test_an_html_page_is_garbage(
    container: Container, settings: Settings, scripted: ScriptedAPI
) -> None:
    scripted.scripts["/users"] = [
        Reply(body=b"<html>Bad gateway</html>", headers={"Content-Type": "text/html"})
    ]
    conf = with_pipelines(settings, fakestore_url=scripted.url)
    record = await run_once(container, conf, "2024-06-30")
    assert record.status == "failed" and record.error is not None
    assert record.error["message"] == (
        f"GET {scripted.url}/users answered something that is not the expected JSON: "
        "content-type is 'text/html', not JSON"
    )
    assert json.loads(CARTS)  # the carts were fine
