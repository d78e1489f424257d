"""Where the customer keys that are not epoch keys live: settings, or a key file in CAUDAL_HOME
created on first run.

The file (mode 0600) is JSON: `{"index_key": "<base64>"}`, plus, for a home created before key
epochs, the legacy `"active"` and `"master_keys"` that wrapped data keys until the upgrade moved
them into epochs (`customers.base_a.upgrade` retires them then). Production deployments put the
keys in settings (from a secret manager) instead: `CAUDAL_CUSTOMERS__INDEX_KEY` (and, legacy,
`CAUDAL_CUSTOMERS__MASTER_KEYS`, `CAUDAL_CUSTOMERS__ACTIVE_KEY_ID`). Data keys are wrapped by epoch
keys in the KMS (`platform/kms.py`), never by these.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from caudal.customers.crypto.envelope import KEY_BYTES, MasterKeyRing
from caudal.platform.kms import KeyExists
from caudal.platform.kms_file import write_private
from caudal.platform.settings import Settings

KEY_FILE_NAME = "customers.keys"


@dataclass(frozen=True)
class CustomerKeys:
    ring: MasterKeyRing | None  # legacy master keys, None once retired
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


def _write_file(path: Path, content: dict[str, object], *, replace: bool = True) -> None:
    # A unique temporary name: two `caudal api` starting at once on a fresh home used to write
    # one fixed `.tmp` name and could rename each other's half-written file.
    write_private(path, json.dumps(content, indent=2).encode(), replace=replace)


def _read_file(path: Path) -> dict[str, object]:
    raw = json.loads(path.read_text("utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path} is not a key file")
    return raw


def load(settings: Settings, *, create: bool = True) -> CustomerKeys:
    """The key ring and index key from settings when given, else from the key file."""
    conf = settings.customers
    if conf.master_keys or conf.index_key is not None:
        keys = {
            kid: _b64(v.get_secret_value(), f"master key '{kid}'")
            for kid, v in conf.master_keys.items()
        }
        if conf.index_key is None:
            raise ValueError("CAUDAL_CUSTOMERS__INDEX_KEY is required with master keys in settings")
        index = _b64(conf.index_key.get_secret_value(), "the index key")
        ring = MasterKeyRing(conf.active_key_id or sorted(keys)[-1], keys) if keys else None
        return CustomerKeys(ring, index, "settings")
    path = key_file(settings)
    if not path.exists():
        if not create:
            raise FileNotFoundError(path)
        with contextlib.suppress(KeyExists):  # another process created it first: use theirs
            _write_file(path, {"index_key": new_key_text()}, replace=False)
    content = _read_file(path)
    masters = content.get("master_keys") or {}
    if not isinstance(masters, dict):
        raise ValueError(f"{path} has invalid master_keys")
    keys = {str(k): _b64(str(v), f"master key '{k}'") for k, v in masters.items()}
    index = _b64(str(content.get("index_key", "")), "the index key")
    ring = MasterKeyRing(str(content.get("active")), keys) if keys else None
    return CustomerKeys(ring, index, str(path))


def retire_master_keys(settings: Settings) -> list[str]:
    """Remove the legacy master keys from the key file once no data key uses them (after the
    upgrade to epochs): while they exist, an old backup or WAL with master-wrapped data keys
    would still open erased customers. Returns the removed ids."""
    path = key_file(settings)
    if settings.customers.master_keys or settings.customers.index_key is not None:
        return []  # settings mode: the operator removes them from the secret manager
    content = _read_file(path)
    masters = content.get("master_keys") or {}
    if not isinstance(masters, dict) or not masters:
        return []
    removed = sorted(str(k) for k in masters)
    _write_file(path, {"index_key": content["index_key"]})
    return removed
