"""Personal fields at intake (`x-caudal-pii`): tokenized or dropped before anything is
written, undeclared properties refused, and no message ever quoting a value."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from caudal.events import registry_files
from caudal.events.intake import SCHEMA_VIOLATION, Intaker, Limits
from caudal.events.quarantine import shown_payload
from caudal.events.registry import Registry, SchemaDefinitionError, build, validate
from caudal.platform.errors import CaudalError
from tests.support.events import card_purchase
from tests.support.fake_tokens import FakeCpfTokens

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CPF, CPF_FORMATTED, NAME = "52998224725", "529.982.247-25", "Maria da Conceição"
TOKEN = FakeCpfTokens().cpf_token(CPF)
PURCHASE = card_purchase(CPF_FORMATTED)
# A registered schema with every kind of mark, one of them nested.
KYC = build(
    "kyc-check",
    "1.0",
    "any",
    {
        "type": "object",
        "properties": {
            "cpf": {"type": "string", "x-caudal-pii": "cpf"},
            "nome": {"type": "string", "x-caudal-pii": "name"},
            "nota": {"type": "string", "x-caudal-pii": "free"},
            "score": {"type": "integer"},
            "casa": {
                "type": "object",
                "properties": {
                    "endereco": {"type": "string", "x-caudal-pii": "address"},
                    "uf": {"type": "string", "enum": ["SP", "RJ"]},
                },
            },
        },
        "required": ["cpf", "score"],
    },
)


def intaker(tokens: Any = None) -> Intaker:
    registry = Registry([*registry_files.shipped(), KYC])
    return Intaker(registry, Limits(), FakeCpfTokens() if tokens is None else tokens)


def backend(type_: str, data: Any) -> dict[str, Any]:
    return {"eventType": type_, "eventDateTime": "2026-01-02T10:00:00Z", "data": data}


def post(data: Any, type_: str = "card-purchase", tokens: Any = None) -> Any:
    kw: dict[str, Any] = {"received_at": NOW, "trace_key": None, "subject": "app"}
    return intaker(tokens).backend(backend(type_, data), **kw)


def test_a_cpf_becomes_its_token_digits_or_formatted() -> None:
    for given in (CPF, CPF_FORMATTED):
        intake = post({**PURCHASE, "cpf": given})
        assert intake.rejections == []
        event = intake.events[0][1]
        assert event.data == {**PURCHASE, "cpf": TOKEN}
        assert intake.messages()[0].key == f"cpf:{TOKEN}"
        assert CPF not in str(intake.messages()[0].payload)


def test_name_address_and_free_text_are_dropped_nested_included() -> None:
    data = {
        "cpf": CPF,
        "nome": NAME,
        "nota": "ligou às 10h",
        "score": 700,
        "casa": {"endereco": "Rua A, 1", "uf": "SP"},
    }
    intake = post(data, "kyc-check")
    assert intake.rejections == []
    assert intake.events[0][1].data == {"cpf": TOKEN, "score": 700, "casa": {"uf": "SP"}}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**PURCHASE, "nome": NAME}, "data.nome"),
        ({"cpf": CPF, "score": 1, "casa": {"uf": "SP", "rua": NAME}}, "data.casa.rua"),
    ],
)
def test_an_undeclared_property_of_a_schema_with_personal_fields_is_refused(
    data: dict[str, Any], field: str
) -> None:
    type_ = "card-purchase" if "valor" in data else "kyc-check"
    intake = post(data, type_)
    assert intake.events == []
    [rejection] = intake.rejections
    assert (rejection.reason, rejection.code, rejection.field) == (
        SCHEMA_VIOLATION,
        "CAU-EVT-PII-UNDECLARED",
        field,
    )
    assert rejection.message.startswith(f"{field}: property not declared")
    assert NAME not in rejection.message


def test_a_cpf_field_without_a_valid_cpf_is_refused_without_quoting_it() -> None:
    intake = post({"cpf": "abc-12", "score": 1}, "kyc-check")
    [rejection] = intake.rejections
    assert (rejection.code, rejection.field) == ("CAU-EVT-PII-CPF", "data.cpf")
    assert "abc-12" not in rejection.message


def test_without_a_tokenizer_a_cpf_is_refused_with_503_never_stored() -> None:
    registry = Registry([*registry_files.shipped(), KYC])
    kw: dict[str, Any] = {"received_at": NOW, "trace_key": None, "subject": "app"}
    with pytest.raises(CaudalError) as raised:
        Intaker(registry, Limits()).backend(backend("card-purchase", PURCHASE), **kw)
    assert raised.value.status == 503
    # a schema without personal fields does not need one
    selfie = backend("selfie-uploaded", {"selfield": "x"})
    assert Intaker(registry, Limits()).backend(selfie, **kw).events


def test_a_frontend_item_is_protected_too() -> None:
    registry = Registry([*registry_files.shipped(), KYC])
    body = {
        "device": {"platform": "iOS", "deviceId": "d1"},
        "data": [
            {"timestamp": "2026-01-02T10:00:00Z", "event_id": "kyc-check", "cpf": CPF, "score": 1},
            {"timestamp": "2026-01-02T10:00:00Z", "event_id": "kyc-check", "cpf": CPF, "score": 2}
            | {"x": NAME},
        ],
    }
    intake = Intaker(registry, Limits(), FakeCpfTokens()).frontend(
        body, received_at=NOW, trace_key=None, subject="app"
    )
    assert [e.data for _, e in intake.events] == [{"cpf": TOKEN, "score": 1}]
    assert [(r.code, r.field) for r in intake.rejections] == [
        ("CAU-EVT-PII-UNDECLARED", "data[1].x")
    ]


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({"properties": {"a": {"type": "string", "x-caudal-pii": "email"}}}, "schema.properties.a"),
        ({"properties": {"a": {"x-caudal-pii": "cpf"}}}, "schema.properties.a"),
        ({"items": {"x-caudal-pii": "name"}}, "schema.items"),
        (
            {"properties": {"a": {"anyOf": [{"x-caudal-pii": "name"}]}}},
            "schema.properties.a.anyOf.0",
        ),
    ],
)
def test_a_mark_the_intake_cannot_honour_is_refused_at_registration(
    schema: dict[str, Any], path: str
) -> None:
    with pytest.raises(SchemaDefinitionError) as raised:
        build("t", "1.0", "backend", schema)
    assert (raised.value.code, raised.value.field) == ("CAU-EVT-SCHEMA-PII", path)


def test_shipped_schemas_mark_their_cpf() -> None:
    marked = {
        e.type: {k: f.kind for k, f in e.pii.items() if f.kind}
        for e in registry_files.shipped()
        if e.pii
    }
    assert marked == {
        "card-purchase": {"cpf": "cpf"},
        "bureau-query": {"cpf": "cpf"},
        "financial-movement": {"cpf": "cpf"},
    }
    assert all(e.fast is not None for e in registry_files.shipped() if e.pii)  # mark: no slow path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**PURCHASE, "cpf": 52998224725}, "data.cpf: expected string"),
        ({**PURCHASE, "cpf": "5299822472X"}, "data.cpf: does not match the pattern"),
        ({**PURCHASE, "produto": ""}, "data.produto: shorter than 1 character(s)"),
        ({k: v for k, v in PURCHASE.items() if k != "cpf"}, "data.cpf: required property"),
        ([CPF], "data: expected object"),
    ],
)
def test_violations_name_the_path_and_rule_never_the_value(data: Any, message: str) -> None:
    entry = Registry(registry_files.shipped()).get("card-purchase", "1.0")
    assert entry is not None
    violation = validate(entry, data)
    assert violation is not None
    assert violation.message.startswith(message)
    assert "52998224725" not in violation.message and "5299822472X" not in violation.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"cpf": CPF, "score": 1, "casa": {"uf": NAME}}, "data.casa.uf: not one of the allowed"),
        ({"cpf": CPF, "score": NAME}, "data.score: expected integer"),
    ],
)
def test_the_jsonschema_path_never_quotes_either(data: Any, message: str) -> None:
    assert KYC.fast is None  # `enum`: jsonschema decides alone
    violation = validate(KYC, data)
    assert violation is not None
    assert violation.message.startswith(message) and NAME not in violation.message


def test_an_extra_property_names_the_property_not_its_value() -> None:
    closed = build(
        "t", "1.0", "backend", {"type": "object", "additionalProperties": False, "properties": {}}
    )
    violation = validate(closed, {"nome": NAME})
    assert violation is not None
    assert (violation.field, violation.message) == (
        "data.nome",
        "data.nome: property not allowed by the schema",
    )


def test_a_quarantined_payload_is_listed_with_personal_values_redacted() -> None:
    registry = Registry([*registry_files.shipped(), KYC])
    backend_item = {
        "type": "card-purchase",
        "version": "1.0",
        "source": "backend",
        "payload": backend("card-purchase", {**PURCHASE, "nome": NAME}),
    }
    shown = shown_payload(registry, backend_item)
    assert shown["data"] == {**PURCHASE, "cpf": "[redacted]", "nome": "[redacted]"}
    assert shown["eventType"] == "card-purchase"
    frontend_item = {
        "type": "kyc-check",
        "version": "1.0",
        "source": "frontend",
        "payload": {
            "device": {"platform": "iOS", "deviceId": "d1"},
            "item": {"event_id": "kyc-check", "cpf": 1, "casa": {"endereco": "R", "uf": "SP"}},
        },
    }
    assert shown_payload(registry, frontend_item)["item"] == {
        "event_id": "kyc-check",
        "cpf": "[redacted]",
        "casa": {"endereco": "[redacted]", "uf": "SP"},
    }
    # no schema (an unknown type): personal data is still recognised by its name
    unknown = {
        "type": "loan",
        "version": "1.0",
        "source": "backend",
        "payload": {"data": {"cpf": CPF, "cliente": {"nome": NAME}, "valor": "1"}},
    }
    assert shown_payload(registry, unknown)["data"] == {
        "cpf": "[redacted]",
        "cliente": {"nome": "[redacted]"},
        "valor": "1",
    }
