"""The PII document sealed in Base A, and the seed 002 shape it is shown in. Pure."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import orjson

from caudal.customers import cpf as cpf_rules
from caudal.customers.validation import Cliente, Divida


def to_document(cliente: Cliente) -> dict[str, Any]:
    """What gets encrypted: every field as JSON, money as exact decimal strings."""
    return {
        "nome": cliente.nome,
        "cpf": cliente.cpf,
        "data_nascimento": cliente.data_nascimento.isoformat(),
        "sexo": cliente.sexo,
        "estado_civil": cliente.estado_civil,
        "endereco": cliente.endereco.model_dump(mode="json"),
        "dividas": [divida_document(d) for d in cliente.dividas],
    }


def divida_document(divida: Divida) -> dict[str, str]:
    return {
        "empresa": divida.empresa,
        "valor": str(divida.valor),
        "vencimento": divida.vencimento.isoformat(),
    }


def encode(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)


def decode(raw: bytes) -> dict[str, Any]:
    value = orjson.loads(raw)
    assert isinstance(value, dict)
    return value


def number(amount: str | Decimal) -> float:
    """Money leaves as a JSON number (seed 002). A numeric(15,2) value has at most 15
    significant digits, which a double represents so that its shortest text is the same decimal:
    the cents printed are exactly the stored ones."""
    return float(Decimal(amount))


def present(customer_id: str, document: dict[str, Any], *, masked: bool) -> dict[str, Any]:
    """Seed 002's customer object: `id, nome, cpf, data_nascimento, sexo, estado_civil,
    endereco{...}, dividas[...]`. Masked: CPF `***.456.789-**`, only the first name, the
    birth year, and no street details."""
    digits = str(document["cpf"])
    endereco = dict(document["endereco"])
    result: dict[str, Any] = {
        "id": customer_id,
        "nome": document["nome"],
        "cpf": cpf_rules.format_cpf(digits),
        "data_nascimento": document["data_nascimento"],
        "sexo": document.get("sexo"),
        "estado_civil": document.get("estado_civil"),
        "endereco": {
            "uf": endereco.get("uf", ""),
            "cidade": endereco.get("cidade", ""),
            "bairro": endereco.get("bairro", ""),
            "longadouro": endereco.get("longadouro", ""),
            "numero": endereco.get("numero"),
            "complemento": endereco.get("complemento", ""),
        },
        "dividas": [
            {"empresa": d["empresa"], "valor": number(d["valor"]), "vencimento": d["vencimento"]}
            for d in document.get("dividas", [])
        ],
    }
    if masked:
        result.update(mask(result))
    return result


def mask(shown: dict[str, Any]) -> dict[str, Any]:
    """The masked variants of the identifying fields of a presented customer."""
    first = str(shown["nome"]).split()
    endereco = dict(shown["endereco"])
    endereco.update(
        {"bairro": "***", "longadouro": "***", "numero": None, "complemento": "***"}
        if endereco
        else {}
    )
    birth = str(shown["data_nascimento"])
    return {
        "nome": (first[0] + " ***") if first else "***",
        "cpf": cpf_rules.mask(cpf_rules.normalize(str(shown["cpf"]))),
        "data_nascimento": birth[:4] + "-**-**",
        "endereco": endereco,
    }


def age_on(document: dict[str, Any], today: date) -> int:
    born = date.fromisoformat(str(document["data_nascimento"]))
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))
