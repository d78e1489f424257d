"""Choosing the KMS adapter from settings (`CAUDAL_KMS__BACKEND`)."""

from __future__ import annotations

from caudal.platform.kms import KeyManager
from caudal.platform.settings import Settings


def build_kms(settings: Settings) -> KeyManager:
    from caudal.platform.kms_file import FileKeyManager

    conf = settings.kms
    return FileKeyManager(conf.directory or settings.home / "kms")
