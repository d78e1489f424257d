"""`caudal doctor` on the NATS bus: the server answers, JetStream is enabled, and this
namespace's streams exist; each failure says what to do next. Read only: unlike a running
process, the check creates nothing."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors

from caudal.bus.nats_connection import NatsConnection
from caudal.platform.settings import BusSettings

_TIMEOUT_S = 3.0
_AUTH_HINT = (
    "start `nats-server -js` there, or point CAUDAL_BUS__NATS_URL at your servers (and check"
    " CAUDAL_BUS__NATS_CREDS / _USER / _TOKEN and the TLS settings:"
    " docs/operations.md#nats-jetstream)"
)


@dataclass(frozen=True)
class Finding:
    ok: bool
    text: str
    hint: str = ""


def _where(url: str) -> str:
    """A server URL without its user and password."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 4222}"


async def _quiet(_: Exception) -> None:
    """The client's error callback: the finding reports the failure, once."""


async def check(settings: BusSettings) -> list[Finding]:
    connection = NatsConnection(settings)
    options = connection.connect_options()
    servers = ", ".join(_where(u) for u in options["servers"])
    options.update(
        error_cb=_quiet,
        disconnected_cb=None,
        reconnected_cb=None,
        allow_reconnect=False,
        # nats-py retries the first connection too (60 times by default, 30 s at our pace):
        # a check says "unreachable" after one more try per server
        max_reconnect_attempts=1,
        connect_timeout=_TIMEOUT_S,
    )
    try:
        nc = await nats.connect(**options)
    except (TimeoutError, nats.errors.Error, OSError) as exc:
        return [Finding(False, f"NATS unreachable at {servers}: {type(exc).__name__}", _AUTH_HINT)]
    try:
        found = [
            Finding(
                True,
                f"NATS {_where(nc.connected_url.geturl()) if nc.connected_url else servers}:"
                f" server {nc.connected_server_version}",
            )
        ]
        js = nc.jetstream(timeout=_TIMEOUT_S)
        try:
            account = await js.account_info()
        except (TimeoutError, nats.errors.Error) as exc:
            found.append(
                Finding(
                    False,
                    f"JetStream is not enabled on this NATS ({type(exc).__name__})",
                    "start nats-server with -js (or a `jetstream {}` block in its configuration,"
                    " on every node of a cluster), or enable JetStream for this account",
                )
            )
            return found
        found.append(
            Finding(True, f"JetStream enabled: {account.streams} stream(s) in the account")
        )
        names = connection.names
        for stream in (names.stream, names.dead_stream):
            try:
                info = await js.stream_info(stream)
            except nats.js.errors.NotFoundError:
                found.append(
                    Finding(
                        False,
                        f"stream {stream} does not exist",
                        "the first `caudal up`, `caudal api` or `caudal worker` with this"
                        " configuration creates it; if one already runs, check"
                        f" CAUDAL_BUS__NATS_NAMESPACE (now '{names.namespace}')",
                    )
                )
                continue
            found.append(
                Finding(
                    True,
                    f"stream {stream}: {info.state.messages} message(s),"
                    f" {info.config.num_replicas or 1} replica(s)",
                )
            )
        return found
    finally:
        await nc.close()
