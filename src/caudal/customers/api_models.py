"""The response shapes of the customers APIs (seed 002's `/clientes`, Bases A, B and C, and the
audit log), as published in the OpenAPI document. Field names are the seed's (Portuguese); money
leaves as a JSON number."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class EnderecoOut(BaseModel):
    uf: str
    cidade: str
    bairro: str
    longadouro: str
    numero: int | None
    complemento: str


class DividaOut(BaseModel):
    empresa: str
    valor: float
    vencimento: str


class ClienteOut(BaseModel):
    """Masked (`?mask=true`): CPF `***.456.789-**`, the first name only, the birth year only,
    no street details."""

    id: str
    nome: str
    cpf: str
    data_nascimento: str
    sexo: str | None
    estado_civil: str | None
    endereco: EnderecoOut
    dividas: list[DividaOut]


class ClientePage(BaseModel):
    """Django REST Framework's page: relative links to the next and previous pages."""

    count: int
    next: str | None
    previous: str | None
    results: list[ClienteOut]


class FonteDeRendaOut(BaseModel):
    tipo: str
    descricao: str
    valor: float
    frequencia: str


class BemOut(BaseModel):
    tipo: str
    valor_estimado: float
    descricao: str


class ScoreDataOut(BaseModel):
    """cpf, birth date and address come from Base A."""

    cpf: str
    data_nascimento: str
    endereco: EnderecoOut
    fontes_de_renda: list[FonteDeRendaOut]
    bens: list[BemOut]


class Fator(BaseModel):
    codigo: str
    descricao: str
    pontos: int
    maximo: int


class ScoreOut(BaseModel):
    id: str
    score: int = Field(ge=0, le=1000)
    faixa: str
    motivos: list[str] = Field(
        description="Codes of the factors that lost points, the costliest first (at most 3)."
    )
    fatores: list[Fator]
    modelo: str
    calculado_em: str


class Consulta(BaseModel):
    """Seed 002's activity of a CPF: the latest of each kind, null when none."""

    ultima_consulta: dict[str, Any] | None = Field(
        description="empresa, data_consulta, tipo_empresa"
    )
    movimentacao_financeira: dict[str, Any] | None = Field(
        description="tipo_movimentacao, data_movimentacao, valor, descricao"
    )
    ultima_compra: dict[str, Any] | None = Field(
        description="data_compra, valor, bandeira_cartao, produto, tipo, codigo_transacao"
    )


class Evento(BaseModel):
    id: str
    tipo: str
    ocorrido_em: str
    dados: dict[str, Any] | None


class EventoPage(BaseModel):
    count: int
    next: str | None
    previous: str | None
    results: list[Evento]


class AuditEntry(BaseModel):
    id: int
    at: str
    subject: str
    action: str
    customer_id: str | None
    trace_key: str | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    count: int
    next: str | None
    previous: str | None
    results: list[AuditEntry]
