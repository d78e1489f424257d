"""Downloads from a FakeStore-format API (`/carts`, `/products`, `/users`) through httpx.

Each response is streamed to a file (a million carts never sit in memory as Python objects).
Timeouts, connection errors, 5xx and 429 are retried with exponential backoff; a `Retry-After`
header is honoured (seconds or an HTTP date) up to a ceiling. Every failure names the endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Protocol

import httpx
import structlog

from caudal import __version__
from caudal.pipelines.model import PipelineError, source_malformed, source_unavailable

_log = structlog.get_logger("caudal.pipelines.fakestore")
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class FakeStoreDownloads(Protocol):
    """What a source needs of a FakeStore-format API: an HTTP one, or the shipped data set."""

    def url(self, endpoint: str) -> str: ...

    def download(
        self, endpoint: str, dest: Path, on_bytes: Callable[[int], None] | None = None
    ) -> int: ...

    def close(self) -> None: ...


class FakeStoreClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 30.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            headers={"User-Agent": f"caudal/{__version__}", "Accept": "application/json"},
            follow_redirects=True,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FakeStoreClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, endpoint: str) -> str:
        return f"{self.base_url}/{endpoint.lstrip('/')}"

    def download(
        self, endpoint: str, dest: Path, on_bytes: Callable[[int], None] | None = None
    ) -> int:
        """Stream `GET <base>/<endpoint>` into `dest`; return the byte count."""
        url = self.url(endpoint)
        attempt = 0
        while True:
            wait, why = self._try(url, dest, on_bytes)
            if why is None:
                return dest.stat().st_size
            if attempt >= self.retries:
                attempts = f"{attempt + 1} attempt(s)"
                raise source_unavailable(url, f"{why} ({attempts}; is the API up?)")
            attempt += 1
            delay = wait if wait is not None else self.backoff_s * (2 ** (attempt - 1))
            if delay > self.max_retry_after_s:
                raise source_unavailable(
                    url,
                    f"{why}; it asks to retry after {delay:.0f}s, more than "
                    f"CAUDAL_PIPELINES__HTTP_MAX_RETRY_AFTER_SECONDS={self.max_retry_after_s:g}",
                )
            _log.warning("fakestore_retry", url=url, attempt=attempt, reason=why, wait_s=delay)
            self._sleep(delay)

    def _try(
        self, url: str, dest: Path, on_bytes: Callable[[int], None] | None
    ) -> tuple[float | None, str | None]:
        """One attempt: (None, None) on success, else (Retry-After or None, why) to retry."""
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code in _RETRY_STATUSES:
                    wait = retry_after_seconds(response.headers.get("retry-after"))
                    return wait, f"HTTP {response.status_code}"
                if response.status_code != 200:
                    raise source_unavailable(url, f"HTTP {response.status_code} (not retried)")
                ctype = response.headers.get("content-type", "")
                if ctype and "json" not in ctype:
                    raise source_malformed(url, f"content-type is '{ctype}', not JSON")
                with dest.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        out.write(chunk)
                        if on_bytes is not None:
                            on_bytes(len(chunk))
        except PipelineError:
            raise
        except httpx.TimeoutException:
            return None, "timed out"
        except httpx.TransportError as exc:
            return None, f"connection failed ({type(exc).__name__})"
        return None, None
