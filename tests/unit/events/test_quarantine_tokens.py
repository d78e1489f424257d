"""The tokens kept beside a sealed quarantine payload: its 64-hex strings and the token of each
valid CPF it holds in clear, never the CPF; none without a tokenizer to compute them."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from caudal.events.quarantine_seal import QuarantineSealer
from caudal.platform.clock import FakeClock
from caudal.platform.errors import CaudalError
from caudal.platform.kms_file import FileKeyManager

CPF = "52998224725"


class Tokens:
    def cpf_token(self, value: str) -> str:
        return hashlib.sha256(value.replace(".", "").replace("-", "").encode()).hexdigest()


def sealer(tmp_path: Path, tokens: Tokens | None) -> QuarantineSealer:
    return QuarantineSealer(
        FileKeyManager(tmp_path), timedelta(days=30), FakeClock(), lambda: tokens
    )


def test_a_payload_keeps_its_tokens_and_those_of_its_cpfs(tmp_path: Path) -> None:
    token = "a" * 20 + "12345678909" + "b" * 33  # a token's hex may hold 11 digits: no CPF
    payload = f'{{"a": "{token}", "b": "529.982.247-25", "c": {CPF}}}'.encode()
    sealed = sealer(tmp_path, Tokens()).seal("e1", payload)
    assert sealed.tokens == sorted({token, Tokens().cpf_token(CPF)})
    assert CPF not in "".join(sealed.tokens)


def test_a_payload_holding_a_cpf_is_refused_without_a_tokenizer(tmp_path: Path) -> None:
    with pytest.raises(CaudalError) as refused:
        sealer(tmp_path, None).seal("e1", f'{{"b": "{CPF}"}}'.encode())
    assert refused.value.status == 503 and CPF not in refused.value.detail
    assert sealer(tmp_path, None).seal("e2", b'{"b": "no cpf"}').tokens == []
