"""Customers fixtures: sample bodies in seed 002's shape and a direct owner connection."""

from __future__ import annotations

from typing import Any

import pytest

from caudal.customers.cpf import format_cpf, with_check_digits
from caudal.platform.settings import Settings
from tests.conftest import TEST_SECRET

CPF_1 = with_check_digits("123456789")  # 12345678909
CPF_2 = with_check_digits("529982247")
CPF_3 = with_check_digits("111444777")


def cliente(
    cpf: str = CPF_1, nome: str = "Maria da Conceição Souza", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "nome": nome,
        "cpf": format_cpf(cpf),
        "data_nascimento": "1985-03-14",
        "sexo": "F",
        "estado_civil": "casada",
        "endereco": {
            "uf": "SP",
            "cidade": "São Paulo",
            "bairro": "Pinheiros",
            "longadouro": "Rua dos Pinheiros",
            "numero": 123,
            "complemento": "apto 42",
        },
        "dividas": [
            {"empresa": "Banco Azul", "valor": 1520.35, "vencimento": "2041-05-10"},
            {"empresa": "Loja Centro", "valor": "99.90", "vencimento": "2040-01-15"},
        ],
    }
    body.update(extra)
    return body


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, database_url: str) -> None:
    """`caudal ...` run in-process (CliRunner) against the test's home and database."""
    monkeypatch.setenv("CAUDAL_HOME", str(settings.home))
    monkeypatch.setenv("CAUDAL_DATABASE_URL", database_url)
    monkeypatch.setenv("CAUDAL_AUTH__SECRET", TEST_SECRET)
