"""The fast path must agree with jsonschema: never "valid" where jsonschema says invalid."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from caudal.events import registry_files
from caudal.events.fast_schema import compile_simple

TYPES = ["object", "array", "string", "boolean", "null", "number", "integer"]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.sampled_from([0, 1, 1.0, 2.5, -1, "", "a", "ab", "12345678901", "x" * 30])
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "cpf", "n", "x" * 12]), children, max_size=4)
    ),
    max_leaves=12,
)


def leaf_schemas() -> st.SearchStrategy[dict[str, Any]]:
    keyword = st.one_of(
        st.builds(lambda t: {"type": t}, st.sampled_from(TYPES)),
        st.builds(
            lambda ts: {"type": ts}, st.lists(st.sampled_from(TYPES), min_size=1, max_size=3)
        ),
        st.builds(lambda n: {"minimum": n}, st.integers(-5, 5) | st.floats(-5, 5)),
        st.builds(lambda n: {"maximum": n}, st.integers(-5, 5)),
        st.builds(lambda n: {"exclusiveMinimum": n}, st.integers(-5, 5)),
        st.builds(lambda n: {"exclusiveMaximum": n}, st.floats(-5, 5)),
        st.builds(lambda n: {"minLength": n}, st.integers(0, 4)),
        st.builds(lambda n: {"maxLength": n}, st.integers(0, 4)),
        st.builds(lambda p: {"pattern": p}, st.sampled_from(["^a", "b$", r"^\d{3}\.?\d+$", "x"])),
        st.just({"description": "annotated"}),
    )
    return st.lists(keyword, min_size=1, max_size=3).map(
        lambda parts: {k: v for part in parts for k, v in part.items()}
    )


object_schemas = st.builds(
    lambda props, required, extra, max_props, names: {
        "type": "object",
        "properties": props,
        "required": required,
        **({"additionalProperties": extra} if extra is not None else {}),
        **({"maxProperties": max_props} if max_props is not None else {}),
        **({"propertyNames": {"maxLength": names}} if names is not None else {}),
    },
    st.dictionaries(st.sampled_from(["a", "b", "cpf", "n"]), leaf_schemas(), max_size=3),
    st.lists(st.sampled_from(["a", "b", "cpf", "n"]), max_size=2, unique=True),
    st.none() | st.booleans(),
    st.none() | st.integers(0, 4),
    st.none() | st.integers(1, 5),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schema=object_schemas | leaf_schemas(), value=json_values)
def test_fast_path_agrees_with_jsonschema(schema: dict[str, Any], value: Any) -> None:
    fast = compile_simple(schema)
    assert fast is not None
    assert fast(value) == Draft202012Validator(schema).is_valid(value), (schema, value)


SHIPPED = registry_files.shipped()  # read and compiled once, not per example


@settings(max_examples=60, deadline=None)
@given(value=json_values)
def test_shipped_schemas_agree_with_jsonschema(value: Any) -> None:
    for entry in SHIPPED:
        assert entry.fast is not None
        assert entry.validator is not None
        assert entry.fast(value) == entry.validator.is_valid(value), (entry.type, value)


def test_unsupported_keywords_leave_it_to_jsonschema() -> None:
    assert compile_simple({"type": "object", "oneOf": [{}, {}]}) is None
    assert compile_simple({"type": "string", "format": "date"}) is None
    assert compile_simple({"properties": {"a": {"enum": [1, 2]}}}) is None
    assert compile_simple({"type": "decimal"}) is None
    assert compile_simple(False) is None
    assert compile_simple({"type": "object"}) is not None
