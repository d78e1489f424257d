"""ReDoS through a schema: patterns run on RE2 (linear time) or are refused at registration."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.integration.hostile.conftest import assert_problem

BAD_PATTERN = "CAU-EVT-SCHEMA-PATTERN"


def definition(schema: dict[str, Any], type_: str = "signup") -> dict[str, Any]:
    return {"type": type_, "version": "1.0", "source": "backend", "schema": schema}


def event(data: dict[str, Any], type_: str = "signup") -> dict[str, Any]:
    return {
        "eventType": type_,
        "eventDateTime": "2020-10-12T21:38:43-0300",
        "version": "1.0",
        "data": data,
    }


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"label": {"type": "string", "pattern": "^(a+)+$"}}},
        # not on the fast path: jsonschema evaluates it, with RE2 as well
        {"properties": {"label": {"anyOf": [{"pattern": "^(a+)+$"}, {"const": 0}]}}},
        {"patternProperties": {"^(a+)+$": {"type": "integer"}}, "additionalProperties": False},
    ],
)
async def test_the_redos_value_answers_at_once(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], schema: dict[str, Any]
) -> None:
    created = await client.post("/v1/schemas", json=definition(schema), headers=auth())
    assert created.status_code == 201, created.text
    hostile = "a" * 26 + "!"
    data = {"label": hostile} if "properties" in schema else {hostile: 1}
    started = time.perf_counter()
    response = await client.post("/v1/events/backend", json=event(data), headers=auth())
    elapsed = time.perf_counter() - started
    print(f"ReDoS value answered in {elapsed * 1000:.1f} ms")
    assert response.status_code == 422, response.text
    rejected = response.json()["rejected"][0]
    assert rejected["code"] == "CAU-EVT-SCHEMA-VIOLATION"
    # the field names the property at fault (an undeclared one by its name, never a value)
    assert rejected["field"] == ("data.label" if "properties" in schema else f"data.{hostile}")
    # Backtracking took 6.4 s here; the validation budget (2 s) is the most it could ever take.
    assert elapsed < 2.0
    fine = {"label": "a" * 26} if "properties" in schema else {"a" * 26: 1}
    accepted = await client.post("/v1/events/backend", json=event(fine), headers=auth())
    assert accepted.status_code == 202, accepted.text


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"properties": {"x": {"pattern": "^(a)\\1$"}}}, "schema.properties.x.pattern"),
        ({"properties": {"x": {"pattern": "^(?=a)a$"}}}, "schema.properties.x.pattern"),
        ({"items": {"pattern": "(a{1000}){1000}"}}, "schema.items.pattern"),
        ({"patternProperties": {"(?<!a)b": {}}}, "schema.patternProperties"),
        (
            {"patternProperties": {"^a": {}}, "unevaluatedProperties": False},
            "schema.unevaluatedProperties",
        ),
    ],
)
async def test_a_pattern_re2_cannot_run_is_refused_at_registration(
    client: httpx.AsyncClient,
    auth: Callable[..., dict[str, str]],
    schema: dict[str, Any],
    field: str,
) -> None:
    response = await client.post("/v1/schemas", json=definition(schema), headers=auth())
    assert_problem(response, 422, BAD_PATTERN, field)


async def test_the_regex_format_is_judged_by_re2(
    client: httpx.AsyncClient, auth: Callable[..., dict[str, str]]
) -> None:
    schema = {"properties": {"rule": {"type": "string", "format": "regex"}}}
    created = await client.post("/v1/schemas", json=definition(schema), headers=auth())
    assert created.status_code == 201, created.text
    ok = await client.post("/v1/events/backend", json=event({"rule": "^a+$"}), headers=auth())
    assert ok.status_code == 202, ok.text
    refused = await client.post(
        "/v1/events/backend", json=event({"rule": "(a)\\1"}), headers=auth()
    )
    assert refused.status_code == 422
    assert refused.json()["rejected"][0]["field"] == "data.rule"
