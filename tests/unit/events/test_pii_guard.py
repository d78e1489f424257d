"""Personal data a schema does not mark (`events.personal`, `events.pii_guard`): a personally
named property must be marked to register, and at intake an undeclared personal property or a
CPF value anywhere is refused, naming the path, never the value."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from caudal.customers.cpf import format_cpf, with_check_digits
from caudal.events import pii_guard, registry_files
from caudal.events.intake import SCHEMA_VIOLATION, Intake, Intaker, Limits
from caudal.events.personal import PERSONAL_NAMES, holds_cpf, may_hold_cpf, personal_name
from caudal.events.quarantine import shown_payload
from caudal.events.registry import Registry, SchemaDefinitionError, build
from caudal.platform.errors import CaudalError
from tests.support.events import card_purchase
from tests.support.fake_tokens import FakeCpfTokens

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CPF = with_check_digits("318467205")  # valid check digits
FORMATTED = format_cpf(CPF)
WRONG = CPF[:9] + str((int(CPF[9]) + 1) % 10) + CPF[10]  # first check digit off by one
DOCS = Path(__file__).resolve().parents[3] / "docs" / "api.md"


# ---- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "cpf",
        "CPF",
        "cpf_cliente",
        "customerCpf",
        "nome",
        "Nome",
        "nomeCompleto",
        "nome-completo",
        "full_name",
        "fullName",
        "endereço",
        "Endereco",
        "logradouro",
        "longadouro",
        "email",
        "e-mail",
        "telefone",
        "phone",
        "data_nascimento",
        "dataNascimento",
        "birth_date",
    ],
)
def test_names_that_say_personal_data(name: str) -> None:
    assert personal_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "product_name",
        "nome_produto",
        "productName",
        "email_opt_in",
        "phone_model",
        "userId",
        "cartId",
        "descricao",
        "empresa",
        "nomes_de_arquivo",
        "address_count",
        "",
        "x" * 300,
    ],
)
def test_names_that_do_not(name: str) -> None:
    assert not personal_name(name)


def test_the_documented_list_is_the_list() -> None:
    documented = DOCS.read_text("utf-8")
    missing = [n for n in sorted(PERSONAL_NAMES) if f"`{n}`" not in documented]
    assert missing == []


# ---- CPF values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        CPF,
        FORMATTED,
        f"cliente {FORMATTED} ligou",
        f"cpf:{CPF};",
        f"abc{CPF}xyz",
        CPF[:3] + "." + CPF[3:6] + "." + CPF[6:9] + CPF[9:],  # the dash left out
        int(CPF),
        "52998224725",
    ],
)
def test_a_valid_cpf_is_found(value: Any) -> None:
    assert holds_cpf(value)


@pytest.mark.parametrize(
    "value",
    [
        WRONG,
        format_cpf(WRONG),
        "00000000000",
        "11111111111",
        "999.999.999-99",
        int("11111111111"),
        "1" + CPF,  # 12 digits in a row: not a CPF
        CPF + "0",
        "9" + FORMATTED,
        CPF[:10],
        int(CPF[:10]),  # a CPF that lost its leading digit is not detected
        float(CPF),
        True,
        None,
        f"{CPF[:3]} {CPF[3:6]} {CPF[6:9]} {CPF[9:]}",  # spaces are not a CPF's punctuation
        "2020-10-12T20:01:14-0300",
        "1733212345678",  # a timestamp in ms
    ],
)
def test_what_is_not_a_cpf(value: Any) -> None:
    assert not holds_cpf(value)


def test_the_raw_filter_lets_an_ordinary_body_through_unscanned() -> None:
    click = {"timestamp": "2020-10-12T20:01:14-0300", "event_id": "click_button_help"}
    cart = {**click, "event_id": "add_to_cart", "userId": 7, "productId": 3, "quantity": 1}
    body = {"device": {"platform": "Android", "deviceId": "je28c5slx5aoj1bx4"}, "data": [click]}
    assert not may_hold_cpf(json.dumps(body).encode())
    assert not may_hold_cpf(json.dumps({**body, "data": [click, cart] * 10}).encode())
    assert not may_hold_cpf(b'{"n": 1733212.5, "id": "9f2c-41"}')  # 8 digits at most


@pytest.mark.parametrize(
    "value",
    [CPF, int(CPF), f"ligou {FORMATTED}", FORMATTED.replace("-", ""), WRONG, "1" + CPF],
)
def test_the_raw_filter_flags_every_cpf_shape_and_more(value: Any) -> None:
    raw = json.dumps({"data": [{"event_id": "click_a", "x": value}]}).encode()
    assert may_hold_cpf(raw)


def test_a_unicode_escape_may_spell_digits_so_it_is_always_scanned() -> None:
    spelled = "".join(f"\\u{ord(c):04x}" for c in FORMATTED)
    raw = ('{"obs": "' + spelled + '"}').encode()
    assert may_hold_cpf(raw) and json.loads(raw)["obs"] == FORMATTED


# ---- registration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        ({"properties": {"cpf": {"type": "string"}}}, "schema.properties.cpf"),
        (
            {"properties": {"cliente": {"properties": {"nomeCompleto": {}}}}},
            "schema.properties.cliente.properties.nomeCompleto",
        ),
        (
            {"properties": {"pessoas": {"items": {"properties": {"endereço": {}}}}}},
            "schema.properties.pessoas.items.properties.endereço",
        ),
        (
            {"patternProperties": {"^p_": {"properties": {"email": {}}}}},
            "schema.patternProperties.^p_.properties.email",
        ),
        ({"$defs": {"p": {"properties": {"telefone": {}}}}}, "schema.$defs.p.properties.telefone"),
        ({"anyOf": [{"properties": {"Nome": {}}}]}, "schema.anyOf.0.properties.Nome"),
    ],
)
def test_a_personally_named_property_without_a_mark_is_refused(
    schema: dict[str, Any], path: str
) -> None:
    with pytest.raises(SchemaDefinitionError) as raised:
        build("t", "1.0", "backend", schema)
    assert (raised.value.code, raised.value.field) == ("CAU-EVT-SCHEMA-PII-UNMARKED", path)
    name = path.rsplit(".", 1)[-1]
    assert raised.value.message.startswith(f"property `{name}` is named like personal data")
    assert '"x-caudal-pii": "none"' in raised.value.message


def test_marked_or_declared_not_personal_or_not_personal_by_name_registers() -> None:
    build(
        "t",
        "1.0",
        "backend",
        {
            "properties": {
                "cpf": {"type": "string", "x-caudal-pii": "cpf"},
                "nome": {"type": "string", "x-caudal-pii": "name"},
                "product_name": {"type": "string"},
                "itens": {"items": {"properties": {"nome": {"x-caudal-pii": "none"}}}},
            },
            "required": ["nome"],  # a name in `required` is not a declaration
        },
    )
    entry = build("t", "1.0", "backend", {"properties": {"email": {"x-caudal-pii": "none"}}})
    assert entry.pii is None  # "none" is not a personal field: the schema stays open


def test_an_unknown_mark_lists_none_among_the_kinds() -> None:
    with pytest.raises(SchemaDefinitionError) as raised:
        build("t", "1.0", "backend", {"properties": {"a": {"x-caudal-pii": "nope"}}})
    assert raised.value.code == "CAU-EVT-SCHEMA-PII"
    assert raised.value.message.endswith("cpf, name, address, free, none")


def test_shipped_schemas_register_under_the_rule() -> None:
    assert {e.type for e in registry_files.shipped()} >= {"click_*", "add_to_cart"}


def test_a_stored_schema_from_before_the_rule_loads_with_that_property_undeclared() -> None:
    legacy = {"properties": {"nome": {"type": "string"}, "valor": {"type": "string"}}}
    with pytest.raises(SchemaDefinitionError):
        build("loan", "1.0", "backend", legacy)
    entry = build("loan", "1.0", "backend", legacy, names=False)
    assert entry.declared is not None and set(entry.declared.props) == {"valor"}
    refused = backend_intake(Registry([entry]), "loan", {"nome": "Maria", "valor": "1"})
    assert [(r.code, r.field) for r in refused.rejections] == [
        ("CAU-EVT-PII-UNDECLARED", "data.nome")
    ]


# ---- intake ----------------------------------------------------------------------------------

NOTE = build(
    "note-added",
    "1.0",
    "any",
    {
        "type": "object",
        "properties": {
            "texto": {"type": "string"},
            "pedido": {"type": "string", "x-caudal-pii": "none"},
            "itens": {
                "type": "array",
                "items": {
                    "properties": {
                        "sku": {"type": "string"},
                        "codigos": {"type": "array", "x-caudal-pii": "none"},
                    }
                },
            },
        },
    },
)
PURCHASE = card_purchase(FORMATTED)


def registry() -> Registry:
    return Registry([*registry_files.shipped(), NOTE])


def backend_intake(reg: Registry, type_: str, data: Any, raw: bytes | None = None) -> Intake:
    body = {"eventType": type_, "eventDateTime": "2026-01-02T10:00:00Z", "data": data}
    kw: dict[str, Any] = {"received_at": NOW, "trace_key": None, "subject": "app", "raw": raw}
    return Intaker(reg, Limits(), FakeCpfTokens()).backend(body, **kw)


def click_intake(*items: dict[str, Any]) -> Intake:
    body = {
        "device": {"platform": "iOS", "deviceId": "d1"},
        "data": [{"timestamp": "2026-01-02T10:00:00Z", **item} for item in items],
    }
    raw = json.dumps(body).encode()
    return Intaker(registry(), Limits(), FakeCpfTokens()).frontend(
        body, received_at=NOW, trace_key=None, subject="app", raw=raw
    )


def refusals(intake: Intake) -> list[tuple[str, str, str]]:
    found = [(r.reason, r.code, r.field) for r in intake.rejections]
    for r in intake.rejections:
        assert CPF not in r.message and FORMATTED not in r.message, r.message
    return found


def test_a_click_with_a_personal_extra_property_is_refused() -> None:
    intake = click_intake(
        {"event_id": "click_ok", "tela": "home"},
        {"event_id": "click_help", "nome_completo": "Maria"},
        {"event_id": "click_help", "ctx": {"Email": "m@x"}},
    )
    assert [i for i, _ in intake.events] == [0]
    assert refusals(intake) == [
        (SCHEMA_VIOLATION, "CAU-EVT-PII-UNDECLARED", "data[1].nome_completo"),
        (SCHEMA_VIOLATION, "CAU-EVT-PII-UNDECLARED", "data[2].ctx.Email"),
    ]
    assert intake.rejections[0].message.startswith(
        "data.nome_completo: property named like personal data and not declared by the schema"
    )
    assert intake.rejections[0].message.endswith("(schema click_* 1.0)")


def test_a_cpf_anywhere_in_a_click_is_refused_naming_the_field_only() -> None:
    intake = click_intake(
        {"event_id": "click_a", "obs": f"cliente {FORMATTED} ligou"},
        {"event_id": "click_b", "doc": int(CPF)},
        {"event_id": "click_c", "lista": [{"x": ["ok", CPF]}]},
        {"event_id": "click_d", "obs": f"{WRONG} 00000000000 {'1' + CPF}"},
    )
    assert [i for i, _ in intake.events] == [3]
    assert refusals(intake) == [
        (SCHEMA_VIOLATION, "CAU-EVT-PII-CPF", "data[0].obs"),
        (SCHEMA_VIOLATION, "CAU-EVT-PII-CPF", "data[1].doc"),
        (SCHEMA_VIOLATION, "CAU-EVT-PII-CPF", "data[2].lista[0].x[1]"),
    ]
    assert intake.rejections[0].message.startswith("data.obs: holds a valid CPF")


def test_a_cpf_as_a_property_name_is_refused_without_quoting_the_name() -> None:
    intake = click_intake(
        {"event_id": "click_a", "por_cliente": {f"cliente {FORMATTED}": 1}},
        {"event_id": "click_b", f"cpf_{CPF}": {"x": 1}},
    )
    assert intake.events == []
    assert refusals(intake) == [
        (SCHEMA_VIOLATION, "CAU-EVT-PII-CPF", "data[0].por_cliente.<a property name>"),
        (SCHEMA_VIOLATION, "CAU-EVT-PII-CPF", "data[1].<a property name>"),
    ]
    for r in intake.rejections:
        assert CPF not in r.field and FORMATTED not in r.field


def test_declared_properties_are_scanned_unless_marked_none() -> None:
    fine = {"pedido": CPF, "itens": [{"sku": "a", "codigos": [CPF, int(CPF)]}]}
    assert backend_intake(registry(), "note-added", fine).rejections == []
    for data, field in (
        ({"texto": FORMATTED}, "data.texto"),
        ({"itens": [{"sku": "a"}, {"sku": CPF}]}, "data.itens[1].sku"),
        ({"itens": [{"sku": "a", "cpf": "x"}]}, "data.itens[0].cpf"),
    ):
        intake = backend_intake(registry(), "note-added", data)
        assert [r.field for r in intake.rejections] == [field]


def test_a_schema_with_personal_fields_scans_its_unmarked_ones_too() -> None:
    ok = backend_intake(registry(), "card-purchase", PURCHASE)
    assert ok.rejections == [] and ok.events[0][1].data["cpf"] == FakeCpfTokens().cpf_token(CPF)
    leaked = backend_intake(registry(), "card-purchase", {**PURCHASE, "produto": FORMATTED})
    assert refusals(leaked) == [(SCHEMA_VIOLATION, "CAU-EVT-PII-CPF", "data.produto")]
    # an undeclared property keeps the closed schema's own refusal and message
    closed = backend_intake(registry(), "card-purchase", {**PURCHASE, "nome": "Maria"})
    assert refusals(closed) == [(SCHEMA_VIOLATION, "CAU-EVT-PII-UNDECLARED", "data.nome")]
    assert "not declared by a schema with personal fields" in closed.rejections[0].message


def test_values_are_scanned_only_when_the_raw_body_may_hold_a_cpf_names_always() -> None:
    data = {"texto": CPF}
    assert backend_intake(registry(), "note-added", data, raw=b"{}").rejections == []
    assert backend_intake(registry(), "note-added", data, raw=None).rejections != []
    named = backend_intake(registry(), "note-added", {"nome": "x"}, raw=b"{}")
    assert [r.code for r in named.rejections] == ["CAU-EVT-PII-UNDECLARED"]


def test_a_revealed_quarantined_payload_hides_cpfs_in_free_text() -> None:
    item = {
        "source": "frontend",
        "type": "click_a",
        "version": "1.0",
        "payload": {
            "device": {"platform": "iOS", "deviceId": "d1"},
            "item": {"event_id": "click_a", "obs": f"ligou {FORMATTED}", "n": [int(CPF), 3]},
        },
    }
    shown = shown_payload(registry(), item)
    assert shown["item"] == {"event_id": "click_a", "obs": "[redacted]", "n": ["[redacted]", 3]}
    assert not re.search(r"[0-9]{11}", json.dumps(shown).replace(".", "").replace("-", ""))


def test_shape_follows_properties_and_items_only() -> None:
    declared = pii_guard.shape(NOTE.schema)
    assert declared is not None
    itens = declared.props["itens"].shape
    assert itens is not None and itens.items is not None
    assert set(itens.items.props) == {"sku", "codigos"}
    assert pii_guard.shape({"anyOf": [{"properties": {"a": {}}}]}) is None


@pytest.mark.parametrize(
    ("device", "code", "field"),
    [
        (
            {"platform": "iOS", "deviceId": "d1", "email": "m@x"},
            "CAU-EVT-PII-UNDECLARED",
            "device.email",
        ),
        ({"platform": "iOS", "deviceId": FORMATTED}, "CAU-EVT-PII-CPF", "device.deviceId"),
        (
            {"platform": "iOS", "deviceId": "d1", "meta": {"n": [int(CPF)]}},
            "CAU-EVT-PII-CPF",
            "device.meta.n[0]",
        ),
    ],
)
def test_a_device_holding_personal_data_refuses_the_request(
    device: dict[str, Any], code: str, field: str
) -> None:
    body = {
        "device": device,
        "data": [{"timestamp": "2026-01-02T10:00:00Z", "event_id": "click_a"}],
    }
    with pytest.raises(CaudalError) as raised:
        Intaker(registry(), Limits()).frontend(
            body, received_at=NOW, trace_key=None, subject="app", raw=json.dumps(body).encode()
        )
    assert (raised.value.status, raised.value.code, raised.value.field) == (422, code, field)
    assert (
        raised.value.detail == f"{field}: `device` may not hold personal data (its name or a CPF)"
    )
