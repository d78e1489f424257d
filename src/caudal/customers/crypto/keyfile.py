"""Where the customer keys live: settings, or a key file in CAUDAL_HOME created on first run.

The file (mode 0600) is JSON: `{"active": "<id>", "master_keys": {"<id>": "<base64>"},
"index_key": "<base64>"}`. Production deployments put the keys in settings (from a secret
manager) instead: `CAUDAL_CUSTOMERS__MASTER_KEYS`, `CAUDAL_CUSTOMERS__ACTIVE_KEY_ID`,
`CAUDAL_CUSTOMERS__INDEX_KEY`.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from caudal.customers.crypto.envelope import KEY_BYTES, MasterKeyRing
from caudal.platform.settings import Settings

KEY_FILE_NAME = "customers.keys"


@dataclass(frozen=True)
class CustomerKeys:
    ring: MasterKeyRing
    index_key: bytes
    source: str  # "settings" or the key file's path


def _b64(value: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ValueError(f"{what} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise ValueError(f"{what} must decode to {KEY_BYTES} bytes")
    return raw


def new_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def new_key_id() -> str:
    return "k" + datetime.now(UTC).strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)


def key_file(settings: Settings) -> Path:
    return settings.customers.keys_file or settings.home / KEY_FILE_NAME


def _write_file(path: Path, content: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(content, indent=2).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read_file(path: Path) -> dict[str, object]:
    raw = json.loads(path.read_text("utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path} is not a key file")
    return raw


def load(settings: Settings, *, create: bool = True) -> CustomerKeys:
    """The key ring and index key from settings when given, else from the key file."""
    conf = settings.customers
    if conf.master_keys:
        keys = {
            kid: _b64(v.get_secret_value(), f"master key '{kid}'")
            for kid, v in conf.master_keys.items()
        }
        active = conf.active_key_id or sorted(keys)[-1]
        if conf.index_key is None:
            raise ValueError("CAUDAL_CUSTOMERS__INDEX_KEY is required with master keys in settings")
        index = _b64(conf.index_key.get_secret_value(), "the index key")
        return CustomerKeys(MasterKeyRing(active, keys), index, "settings")
    path = key_file(settings)
    if not path.exists():
        if not create:
            raise FileNotFoundError(path)
        first = new_key_id()
        _write_file(
            path,
            {"active": first, "master_keys": {first: new_key_text()}, "index_key": new_key_text()},
        )
    content = _read_file(path)
    masters = content.get("master_keys")
    if not isinstance(masters, dict):
        raise ValueError(f"{path} has no master_keys")
    keys = {str(k): _b64(str(v), f"master key '{k}'") for k, v in masters.items()}
    index = _b64(str(content.get("index_key", "")), "the index key")
    return CustomerKeys(MasterKeyRing(str(content.get("active")), keys), index, str(path))


def add_master_key(settings: Settings) -> str:
    """Generate a new master key in the key file and make it active; returns its id."""
    path = key_file(settings)
    load(settings)  # creates the file if needed
    content = _read_file(path)
    masters = dict(content["master_keys"])  # type: ignore[call-overload]
    key_id = new_key_id()
    while key_id in masters:
        key_id = new_key_id()
    masters[key_id] = new_key_text()
    content["master_keys"] = masters
    content["active"] = key_id
    _write_file(path, content)
    return key_id


def retire_master_keys(settings: Settings, keep: set[str]) -> list[str]:
    """Remove from the key file every master key not in `keep`; returns the removed ids."""
    path = key_file(settings)
    content = _read_file(path)
    masters = dict(content["master_keys"])  # type: ignore[call-overload]
    removed = sorted(k for k in masters if k not in keep and k != content["active"])
    for k in removed:
        del masters[k]
    content["master_keys"] = masters
    _write_file(path, content)
    return removed
