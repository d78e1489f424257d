"""The intake's CPF tokenizer (`events.pii.CpfTokenizer`), provided by this capability: the
CPF rules and the index key are the customers'. A CPF's token is its blind index, in hex: the
key Base A finds a customer by and Base C files its activity under, so an event that carries
only the token still lands on the right customer, and `/clientes/{cpf}/consultar` finds it."""

from __future__ import annotations

from caudal.customers import cpf
from caudal.customers.crypto.vault import Vault


class CpfTokens:
    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def cpf_token(self, value: str) -> str:
        """Raises `cpf.InvalidCpf` (a ValueError whose message never quotes the value)."""
        return self._vault.cpf_index(cpf.normalize(value)).hex()
