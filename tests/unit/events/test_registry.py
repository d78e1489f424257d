from __future__ import annotations

from typing import Any

import pytest

from caudal.events import registry_files
from caudal.events.registry import (
    GENERIC_FRONTEND,
    Registry,
    SchemaDefinitionError,
    breaking_changes,
    build,
    validate,
    version_key,
)


def schema(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required or []}


def test_shipped_schemas_cover_the_seeds() -> None:
    found = {(e.type, e.version): e for e in registry_files.shipped()}
    assert set(found) == {
        ("click_*", "1.0"),
        ("selfie-uploaded", "1.0"),
        ("document-uploaded", "1.0"),
        ("bureau-query", "1.0"),
        ("financial-movement", "1.0"),
        ("card-purchase", "1.0"),
        ("add_to_cart", "1.0"),
    }
    assert found[("bureau-query", "1.0")].schema["required"] == [
        "cpf",
        "empresa",
        "data_consulta",
        "tipo_empresa",
    ]
    assert found[("financial-movement", "1.0")].schema["required"] == [
        "cpf",
        "tipo_movimentacao",
        "data_movimentacao",
        "valor",
        "descricao",
    ]
    assert found[("card-purchase", "1.0")].schema["required"] == [
        "cpf",
        "data_compra",
        "valor",
        "bandeira_cartao",
        "produto",
        "tipo",
        "codigo_transacao",
    ]
    assert found[("add_to_cart", "1.0")].source == "frontend"


def test_validation_reports_the_field_at_fault() -> None:
    registry = Registry(registry_files.shipped())
    cart = registry.get("add_to_cart", "1.0")
    assert cart is not None
    assert validate(cart, {"userId": 1, "productId": 2, "quantity": 3}) is None
    assert (
        validate(cart, {"userId": 1, "productId": 2, "quantity": 1, "cartId": 9, "price": 9.5})
        is None
    )
    zero = validate(cart, {"userId": 1, "productId": 2, "quantity": 0})
    assert zero is not None and zero.field == "data.quantity"
    text = validate(cart, {"userId": "1", "productId": 2, "quantity": 1})
    assert text is not None and text.field == "data.userId"
    missing = validate(cart, {"userId": 1, "quantity": 1})
    assert missing is not None and missing.field == "data.productId"
    assert missing.code == "CAU-EVT-SCHEMA-VIOLATION"


def test_frontend_lookup_falls_back_to_the_generic_click_schema() -> None:
    registry = Registry(registry_files.shipped())
    assert registry.for_frontend("add_to_cart", "1.0").type == "add_to_cart"  # type: ignore[union-attr]
    assert registry.for_frontend("click_button_help", "1.0").type == GENERIC_FRONTEND  # type: ignore[union-attr]
    assert registry.for_frontend("screen_view", "1.0").type == GENERIC_FRONTEND  # type: ignore[union-attr]
    assert registry.get("selfie-uploaded", "2.0") is None
    assert registry.knows_type("selfie-uploaded")


def test_versions_order_numerically() -> None:
    assert version_key("1.10") > version_key("1.9") > version_key("1.0")
    assert sorted(["2.0", "1.10", "1.2"], key=version_key) == ["1.2", "1.10", "2.0"]


def test_additions_pass_and_breaking_changes_are_named() -> None:
    old = schema({"cpf": {"type": "string"}, "valor": {"type": "number"}}, ["cpf"])
    added = schema(
        {"cpf": {"type": "string"}, "valor": {"type": "number"}, "parcelas": {"type": "integer"}},
        ["cpf"],
    )
    assert breaking_changes(old, added) == []
    removed = schema({"cpf": {"type": "string"}}, ["cpf"])
    assert breaking_changes(old, removed) == ["property 'valor' was removed"]
    retyped = schema({"cpf": {"type": "integer"}, "valor": {"type": "number"}}, ["cpf"])
    assert breaking_changes(old, retyped) == [
        "property 'cpf' changed type from ['string'] to ['integer']"
    ]
    required = schema({"cpf": {"type": "string"}, "valor": {"type": "number"}}, ["cpf", "valor"])
    assert breaking_changes(old, required) == ["property 'valor' became required"]
    widened = schema({"n": {"type": "number"}})
    assert breaking_changes(schema({"n": {"type": "integer"}}), widened) == []


def test_nested_objects_are_compared_too() -> None:
    old = schema({"endereco": schema({"uf": {"type": "string"}})})
    new = schema({"endereco": schema({"uf": {"type": "integer"}})})
    assert breaking_changes(old, new) == [
        "property 'endereco.uf' changed type from ['string'] to ['integer']"
    ]


def test_check_addition_against_the_closest_lower_version() -> None:
    cpf = {"type": "string", "x-caudal-pii": "cpf"}
    base = build("card-purchase", "1.0", "backend", schema({"cpf": cpf}, ["cpf"]))
    registry = Registry([base])
    ok = build("card-purchase", "1.1", "backend", schema({"cpf": cpf, "x": {}}, ["cpf"]))
    assert registry.check_addition(ok) == []
    bad = build("card-purchase", "2.0", "backend", schema({}, []))
    assert registry.check_addition(bad) == ["property 'cpf' was removed"]


@pytest.mark.parametrize(
    ("args", "code", "field"),
    [
        (("bad type!", "1.0", "backend", {}), "CAU-EVT-SCHEMA-TYPE", "type"),
        (("t", "", "backend", {}), "CAU-EVT-SCHEMA-VERSION", "version"),
        (("t", "1.0", "mainframe", {}), "CAU-EVT-SCHEMA-SOURCE", "source"),
        (("t", "1.0", "backend", []), "CAU-EVT-SCHEMA-INVALID", "schema"),
        (("t", "1.0", "backend", {"type": "strin"}), "CAU-EVT-SCHEMA-INVALID", "schema.type"),
        (
            ("t", "1.0", "backend", {"$schema": "http://json-schema.org/draft-04/schema#"}),
            "CAU-EVT-SCHEMA-DIALECT",
            "schema.$schema",
        ),
    ],
)
def test_unusable_definitions_are_refused(args: tuple[Any, ...], code: str, field: str) -> None:
    with pytest.raises(SchemaDefinitionError) as caught:
        build(*args)
    assert caught.value.code == code
    assert caught.value.field == field
