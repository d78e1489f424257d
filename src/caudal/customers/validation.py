"""Request bodies of the customers API, validated into typed values. Pure: no I/O.

Every invalid field becomes a 422 whose code names the field
(`CAU-CUSTOMERS-INVALID-CPF`, `-DATA-NASCIMENTO`, `-UF`, `-VALOR`, ...).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from caudal.customers import cpf as cpf_rules
from caudal.platform.decimals import parse_decimal
from caudal.platform.errors import CaudalError, FieldError

UFS = frozenset(
    [
        "AC",
        "AL",
        "AP",
        "AM",
        "BA",
        "CE",
        "DF",
        "ES",
        "GO",
        "MA",
        "MT",
        "MS",
        "MG",
        "PA",
        "PB",
        "PR",
        "PE",
        "PI",
        "RJ",
        "RN",
        "RS",
        "RO",
        "RR",
        "SC",
        "SP",
        "SE",
        "TO",
    ]
)
FREQUENCIES: dict[str, Decimal] = {  # times per month, for the monthly income
    "diaria": Decimal(30),
    "semanal": Decimal(52) / Decimal(12),
    "quinzenal": Decimal(2),
    "mensal": Decimal(1),
    "bimestral": Decimal(1) / Decimal(2),
    "trimestral": Decimal(1) / Decimal(3),
    "semestral": Decimal(1) / Decimal(6),
    "anual": Decimal(1) / Decimal(12),
    "unica": Decimal(0),
}
MAX_MONEY = Decimal("9999999999999.99")  # numeric(15,2)
M = TypeVar("M", bound=BaseModel)


def money(value: Any, *, allow_negative: bool = False, allow_zero: bool = True) -> Decimal:
    """A JSON number or decimal string with at most 2 decimals, as an exact Decimal."""
    amount = parse_decimal(value)  # DecimalSyntaxError is a ValueError: 422 naming the field
    if abs(amount) > MAX_MONEY:
        raise ValueError("is too large (at most 13 digits before the decimal point)")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise ValueError("must have at most 2 decimals")
    amount = amount.quantize(Decimal("0.01"))
    if amount < 0 and not allow_negative:
        raise ValueError("must not be negative")
    if amount == 0 and not allow_zero:
        raise ValueError("must be greater than zero")
    return amount


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a date such as 1990-05-17")
    try:
        return date.fromisoformat(value.strip()[:10]) if len(value.strip()) >= 10 else _bad_date()
    except ValueError as exc:
        raise ValueError("must be a date such as 1990-05-17") from exc


def _bad_date() -> date:
    raise ValueError("must be a date such as 1990-05-17")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class Endereco(_Strict):
    uf: str
    cidade: str = Field(min_length=1, max_length=120)
    bairro: str = Field(default="", max_length=120)
    longadouro: str = Field(min_length=1, max_length=200)
    numero: int | None = Field(default=None, ge=0, le=999_999)
    complemento: str = Field(default="", max_length=200)

    @field_validator("uf", mode="before")
    @classmethod
    def _uf(cls, value: Any) -> str:
        if not isinstance(value, str) or value.strip().upper() not in UFS:
            raise ValueError("must be a Brazilian state abbreviation such as SP or RJ")
        return value.strip().upper()

    @field_validator("numero", mode="before")
    @classmethod
    def _numero(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text == "" or text.upper() in {"S/N", "SN"}:
                return None
        return value


class Divida(_Strict):
    empresa: str = Field(min_length=1, max_length=200)
    valor: Decimal
    vencimento: date

    @field_validator("valor", mode="before")
    @classmethod
    def _valor(cls, value: Any) -> Decimal:
        return money(value, allow_zero=False)

    @field_validator("vencimento", mode="before")
    @classmethod
    def _vencimento(cls, value: Any) -> date:
        return _date(value)


class Cliente(_Strict):
    nome: str = Field(min_length=1, max_length=200)
    cpf: str
    data_nascimento: date
    sexo: str | None = Field(default=None, max_length=20)
    estado_civil: str | None = Field(default=None, max_length=40)
    endereco: Endereco
    dividas: list[Divida] = Field(default_factory=list, max_length=500)

    @field_validator("cpf", mode="before")
    @classmethod
    def _cpf(cls, value: Any) -> str:
        try:
            return cpf_rules.normalize(value)
        except cpf_rules.InvalidCpf as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("data_nascimento", mode="before")
    @classmethod
    def _nascimento(cls, value: Any) -> date:
        born = _date(value)
        if born.year < 1900 or born > date.today():
            raise ValueError("must be a past date after 1900-01-01")
        return born


class FonteDeRenda(_Strict):
    tipo: str = Field(min_length=1, max_length=80)
    descricao: str = Field(default="", max_length=200)
    valor: Decimal
    frequencia: str

    @field_validator("valor", mode="before")
    @classmethod
    def _valor(cls, value: Any) -> Decimal:
        return money(value)

    @field_validator("frequencia", mode="before")
    @classmethod
    def _frequencia(cls, value: Any) -> str:
        text = str(value).strip().lower().replace("á", "a") if value is not None else ""
        if text not in FREQUENCIES:
            raise ValueError("must be one of: " + ", ".join(FREQUENCIES))
        return text


class Bem(_Strict):
    tipo: str = Field(min_length=1, max_length=80)
    valor_estimado: Decimal
    descricao: str = Field(default="", max_length=200)

    @field_validator("valor_estimado", mode="before")
    @classmethod
    def _valor(cls, value: Any) -> Decimal:
        return money(value)


class ScoreData(_Strict):
    fontes_de_renda: list[FonteDeRenda] = Field(default_factory=list, max_length=100)
    bens: list[Bem] = Field(default_factory=list, max_length=100)


def _code_for(loc: tuple[int | str, ...]) -> str:
    names = [str(p) for p in loc if isinstance(p, str)]
    leaf = names[-1] if names else "body"
    return "CAU-CUSTOMERS-INVALID-" + leaf.upper().replace("_", "-")


def parse(model: type[M], body: Any) -> M:
    """Validate `body` into `model`, or raise a 422 whose code names the first bad field."""
    if not isinstance(body, dict):
        raise CaudalError(
            code="CAU-CUSTOMERS-INVALID-BODY",
            detail="the body must be a JSON object",
            status=422,
            title="Validation failed",
            field="body",
        )
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [
            FieldError(
                field=".".join(str(p) for p in e["loc"]) or "body",
                code=_code_for(tuple(e["loc"])),
                message=str(e["msg"]).removeprefix("Value error, "),
            )
            for e in exc.errors()
        ]
        first = errors[0]
        raise CaudalError(
            code=first.code,
            detail=f"{first.field}: {first.message}",
            status=422,
            title="Validation failed",
            field=first.field,
            errors=errors,
        ) from None
