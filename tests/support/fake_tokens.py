"""A stand-in for the customers capability's CPF tokenizer (`events.pii.CpfTokenizer`), for
unit tests of the events intake: a stable 64-hex token per CPF, no key file."""

from __future__ import annotations

import hashlib
import re


class FakeCpfTokens:
    def cpf_token(self, value: str) -> str:
        digits = re.sub(r"[.\-\s/]", "", value)
        if not re.fullmatch(r"\d{11}", digits):
            raise ValueError("the CPF must have 11 digits (punctuation is optional)")
        return hashlib.sha256(b"test-index-key" + digits.encode()).hexdigest()
