from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from caudal.customers.pagination import envelope
from caudal.customers.validation import Cliente, Divida, money, parse
from caudal.platform.errors import CaudalError


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        (10, "10.00"),
        (10.5, "10.50"),
        ("1234.56", "1234.56"),
        ("0.1", "0.10"),
        ("9999999999999.99", "9999999999999.99"),
    ],
)
def test_money_is_exact(raw: Any, amount: str) -> None:
    assert money(raw) == Decimal(amount)


@pytest.mark.parametrize(
    "raw", ["1.001", 0.1 + 0.2, "abc", "NaN", "Infinity", True, None, "10000000000000.00", -1]
)
def test_money_refuses(raw: Any) -> None:
    with pytest.raises(ValueError):
        money(raw)


def test_money_allows_negatives_when_asked() -> None:
    assert money("-12.5", allow_negative=True) == Decimal("-12.50")


def test_parse_names_the_field_in_the_code() -> None:
    with pytest.raises(CaudalError) as caught:
        parse(Divida, {"empresa": "x", "valor": "1.234", "vencimento": "2030-01-01"})
    assert caught.value.status == 422
    assert caught.value.code == "CAU-CUSTOMERS-INVALID-VALOR"
    assert caught.value.field == "valor"
    with pytest.raises(CaudalError) as missing:
        parse(Cliente, {"cpf": "52998224725"})
    assert missing.value.code == "CAU-CUSTOMERS-INVALID-NOME"
    with pytest.raises(CaudalError) as not_object:
        parse(Cliente, [1, 2])
    assert not_object.value.code == "CAU-CUSTOMERS-INVALID-BODY"


def test_address_number_and_state_are_normalised() -> None:
    parsed = parse(
        Cliente,
        {
            "nome": "Ana",
            "cpf": "529.982.247-25",
            "data_nascimento": "1990-01-01",
            "endereco": {"uf": "rj", "cidade": "Rio", "longadouro": "Rua A", "numero": "S/N"},
        },
    )
    assert parsed.cpf == "52998224725"
    assert parsed.endereco.uf == "RJ" and parsed.endereco.numero is None
    assert parsed.dividas == []


def test_pagination_links_keep_filters() -> None:
    body = envelope("/clientes", {"nome": "ana", "cpf": None}, 2, 10, 35, [])
    assert body == {
        "count": 35,
        "next": "/clientes?nome=ana&page=3",
        "previous": "/clientes?nome=ana&page=1",
        "results": [],
    }
    last = envelope("/clientes", {}, 4, 10, 35, [])
    assert last["next"] is None and last["previous"] == "/clientes?page=3"
    with pytest.raises(CaudalError) as beyond:  # Django REST Framework: 404 "Invalid page."
        envelope("/clientes", {}, 5, 10, 35, [])
    assert (beyond.value.status, beyond.value.code) == (404, "CAU-INVALID-PAGE")
    assert beyond.value.detail == "Invalid page."
    assert envelope("/clientes", {}, 1, 10, 0, [])["results"] == []  # an empty first page
