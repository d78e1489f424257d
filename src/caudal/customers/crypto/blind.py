"""Keyed blind indexes (HMAC-SHA256): equality lookups on values stored only encrypted.

The CPF index finds a customer by CPF; name-token indexes find customers by any exact word of
their name, case- and accent-insensitive. Without the index key the digests reveal nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+")


def _mac(key: bytes, domain: str, value: str) -> bytes:
    return hmac.new(key, f"{domain}\x00{value}".encode(), hashlib.sha256).digest()


def cpf_index(key: bytes, cpf_digits: str) -> bytes:
    return _mac(key, "cpf", cpf_digits)


def fold(text: str) -> str:
    """Lower case without accents: `João` -> `joao`."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def name_tokens(name: str) -> list[str]:
    """The distinct words of a name, folded: `Maria  da Conceição` -> maria, da, conceicao."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(fold(name)):
        seen.setdefault(word, None)
    return list(seen)


def name_token_indexes(key: bytes, name: str) -> list[bytes]:
    return [_mac(key, "name", token) for token in name_tokens(name)]


def pseudonym(key: bytes, customer_id: str) -> str:
    """A stable pseudonymous id for machine-learning exports (not reversible without the key)."""
    return _mac(key, "pseudonym", customer_id).hex()[:32]
