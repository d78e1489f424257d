"""The published OpenAPI document describes every operation: what it does, the typed body of its
success, and the problem+json answers it can give (the fuzzer in tests/e2e checks the server
keeps to it)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.offline_app import offline_app

PROBLEM = {"$ref": "#/components/schemas/Problem"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return offline_app(tmp_path_factory.mktemp("openapi") / "home").openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_operation_has_a_summary_and_a_description(document: dict[str, Any]) -> None:
    missing = [
        name
        for name, op in operations(document)
        if not op.get("summary") or not op.get("description", "").strip()
    ]
    assert len(operations(document)) >= 40
    assert missing == []


def test_every_success_has_a_typed_body_or_none(document: dict[str, Any]) -> None:
    untyped = []
    for name, op in operations(document):
        successes = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        assert successes, name
        for status, response in successes.items():
            for media, content in response.get("content", {}).items():
                schema = content.get("schema", {})
                typed = "$ref" in schema or schema.get("type") in ("array", "string")
                typed = typed or "anyOf" in schema or "oneOf" in schema
                if not typed:
                    untyped.append(f"{name} {status} {media}: {schema}")
    assert untyped == []


def test_every_error_is_a_problem_json_and_the_usual_ones_are_declared(
    document: dict[str, Any],
) -> None:
    wrong = []
    for name, op in operations(document):
        responses = op["responses"]
        for status, response in responses.items():
            problem_json = {"application/problem+json": {"schema": PROBLEM}}
            if status[0] in "45" and response.get("content") != problem_json:
                wrong.append(f"{name} {status}: {response.get('content')}")
        expected = {"400"}
        if op.get("security"):
            expected |= {"401", "503"}
        if op.get("parameters") or op.get("requestBody"):
            expected.add("422")
        if op.get("requestBody"):
            expected.add("413")
        if not expected <= set(responses):
            wrong.append(f"{name}: lacks {sorted(expected - set(responses))}")
    assert wrong == []
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "code", "detail"} <= set(problem["required"])
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_scoped_operations_declare_403_and_whoami_does_not(document: dict[str, Any]) -> None:
    ops = dict(operations(document))
    assert "403" in ops["GET /v1/ledger/event-codes"]["responses"]
    assert "403" in ops["POST /clientes"]["responses"]
    assert "403" not in ops["GET /v1/whoami"]["responses"]
    assert "401" not in ops["GET /healthz"]["responses"]
    assert ops["GET /readyz"]["responses"]["503"]["headers"]["Retry-After"]


def test_customer_bodies_are_typed_with_the_seed_fields(document: dict[str, Any]) -> None:
    ops = dict(operations(document))
    schemas = document["components"]["schemas"]

    def body(name: str) -> dict[str, Any]:
        ref = ops[name]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        return schemas[ref.rsplit("/", 1)[1]]

    cliente = body("POST /clientes")
    assert {"nome", "cpf", "data_nascimento", "endereco"} <= set(cliente["required"])
    assert set(cliente["properties"]) == {
        "nome",
        "cpf",
        "data_nascimento",
        "sexo",
        "estado_civil",
        "endereco",
        "dividas",
    }
    score_data = body("PUT /clientes/{customer_id}/score-data")
    assert set(score_data["properties"]) == {"fontes_de_renda", "bens"}
    created = ops["POST /clientes"]["responses"]["201"]["content"]["application/json"]
    assert created["schema"] == {"$ref": "#/components/schemas/ClienteOut"}
