"""What looks like personal data in an event, whatever its schema says: a property *name* that
names personal data, and a *value* that holds a valid CPF. Pure functions, used at registration
(a personally named property must be marked), at intake (`events.pii_guard`) and when a
quarantined payload is shown (`events.pii.redact`).

Names. A name is split into words (snake_case, kebab-case, camelCase, dots and spaces; case
and accents ignored: `nomeCompleto`, `Nome-Completo` and `nome_completo` are one name) and is
personal when the words, joined by `_`, are exactly one of `PERSONAL_NAMES`, or when one of its
words is `cpf` (`cpf_cliente`, `customerCpf`). Exact names, not substrings: `product_name`,
`nome_produto`, `email_opt_in` and `phone_model` are not personal by name.

Values. A CPF is 11 digits whose two last are the check digits of the first nine, given bare
(`52998224725`) or formatted (`529.982.247-25`), alone or inside a longer text (`"cliente
529.982.247-25 ligou"`), as a string or as an 11-digit integer. A run of digits longer than 11
is not a CPF (a card number, a timestamp in ms), nor are 11 equal digits (`00000000000` passes
the check-digit arithmetic but is not a CPF). About one 11-digit number in a hundred has valid
check digits by chance: a non-personal field that holds such numbers is declared
`"x-caudal-pii": "none"` (docs/api.md).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from caudal.customers.cpf import is_valid

# The names, as words joined by `_` (docs/api.md lists them; a test keeps the two equal).
PERSONAL_NAMES = frozenset(
    {
        # the person's name
        "nome",
        "name",
        "nome_completo",
        "full_name",
        "fullname",
        "first_name",
        "firstname",
        "last_name",
        "lastname",
        "given_name",
        "family_name",
        "surname",
        "sobrenome",
        "nome_social",
        "social_name",
        "nome_mae",
        "nome_da_mae",
        "mother_name",
        "nome_pai",
        "nome_cliente",
        "customer_name",
        "client_name",
        "nome_titular",
        "holder_name",
        # the address
        "endereco",
        "address",
        "logradouro",
        "longadouro",
        "street",
        "street_address",
        "rua",
        "endereco_completo",
        "endereco_residencial",
        "home_address",
        "billing_address",
        "shipping_address",
        # contact
        "email",
        "e_mail",
        "email_address",
        "telefone",
        "phone",
        "phone_number",
        "telephone",
        "celular",
        "mobile_phone",
        "whatsapp",
        # birth and documents
        "data_nascimento",
        "data_de_nascimento",
        "nascimento",
        "birth_date",
        "birthdate",
        "date_of_birth",
        "birthday",
        "dob",
        "cpf",
        "rg",
    }
)
PERSONAL_WORDS = frozenset({"cpf"})  # a word that makes any name personal

_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def words(name: str) -> list[str]:
    """`nomeCompleto` -> ["nome", "completo"]; accents dropped (`endereço` -> ["endereco"])."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return [w.lower() for w in _WORDS.findall(plain)]


@lru_cache(maxsize=4096)  # bounded: names come from clients
def _personal(name: str) -> bool:
    found = words(name)
    return "_".join(found) in PERSONAL_NAMES or any(w in PERSONAL_WORDS for w in found)


def personal_name(name: str) -> bool:
    """Whether a property of this name holds personal data (module docstring)."""
    return len(name) <= 200 and _personal(name)


# ---- CPF values ------------------------------------------------------------------------------

# Digits only where no other digit touches them: 12 digits in a row are not a CPF.
_CPF_IN_TEXT = re.compile(r"(?<![0-9])([0-9]{3})\.?([0-9]{3})\.?([0-9]{3})-?([0-9]{2})(?![0-9])")
_CPF_INT_LOW, _CPF_INT_HIGH = 10**10, 10**11


def holds_cpf(value: Any) -> bool:
    """Whether a string holds a valid CPF somewhere, or an integer is one (11 digits)."""
    if isinstance(value, str):
        return any(is_valid("".join(m.groups())) for m in _CPF_IN_TEXT.finditer(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return _CPF_INT_LOW <= value < _CPF_INT_HIGH and is_valid(str(value))
    return False


# ---- the fast negative filter over a request's raw bytes ------------------------------------

# What must be in a body for `pii_guard.scan` to find anything: a run of CPF-shaped digits, a
# word a personal name is made of (lower-cased body), a `\u` escape (JSON may spell any
# letter or digit that way) or any non-ASCII byte: such a body is always walked.
_CPF_SHAPED = re.compile(rb"[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}-?[0-9]{2}")
_NAME_PARTS = (
    b"cpf",
    b"nom",
    b"nam",
    b"endere",
    b"addr",
    b"logradouro",
    b"longadouro",
    b"street",
    b"rua",
    b"mail",
    b"fone",
    b"phone",
    b"celular",
    b"whatsapp",
    b"nasc",
    b"birth",
    b"dob",
    b'"rg"',
    b"\\u",
)


def suspect(raw: bytes) -> bool:
    """False only when nothing in this body can be a CPF or a personal property name: the
    intake then skips the walk (`pii_guard.scan`)."""
    if not raw.isascii() or _CPF_SHAPED.search(raw) is not None:
        return True  # non-ASCII: a letter NFKD turns into a personal name's (`ｎｏｍｅ`)
    lowered = raw.lower()
    return any(part in lowered for part in _NAME_PARTS)
