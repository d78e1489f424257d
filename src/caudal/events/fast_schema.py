"""A fast path for simple JSON Schemas on the ingestion hot path.

jsonschema costs tens of microseconds per call even for a tiny schema. Most event schemas use a
handful of keywords; for those, `compile_simple` builds a plain Python predicate that answers
"valid" exactly when jsonschema would. Only a True is trusted: on False the caller asks
jsonschema for the error to report, so messages stay jsonschema's. Any other keyword anywhere
in the schema: no fast path (None), jsonschema does all the work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from caudal.events.safe_schema import linear
from caudal.platform.linear_regex import Matcher, PatternError

Check = Callable[[Any], bool]

# `x-caudal-pii` marks a personal field (events.pii); it constrains no value.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "examples", "x-caudal-pii"}
)
_KEYWORDS = _ANNOTATIONS | {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "maxProperties",
    "propertyNames",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
}


def _is_type(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "number":
        return isinstance(value, int | float)
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    raise ValueError(name)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compile_simple(schema: Any) -> Check | None:
    """A predicate equivalent to jsonschema's verdict for `schema`, or None if unsupported."""
    if schema is True:
        return lambda _: True
    if not isinstance(schema, dict) or not set(schema) <= _KEYWORDS:
        return None
    checks: list[Check] = []
    declared = schema.get("type")
    if declared is not None:
        names = [declared] if isinstance(declared, str) else declared
        if not isinstance(names, list) or not all(
            n in ("object", "array", "string", "boolean", "null", "number", "integer")
            for n in names
        ):
            return None
        checks.append(_types(tuple(names)))
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if key in schema:
            if not _number(schema[key]):
                return None
            checks.append(_bound(key, schema[key]))
    for key in ("minLength", "maxLength"):
        if key in schema:
            size = schema[key]
            if not isinstance(size, int) or isinstance(size, bool):
                return None
            checks.append(_length(key == "minLength", size))
    if "pattern" in schema:
        if not isinstance(schema["pattern"], str):
            return None
        try:
            checks.append(_pattern(linear(schema["pattern"])))
        except PatternError:
            return None
    supported, object_check = _object_checks(schema)
    if not supported:
        return None
    if object_check is not None:
        checks.append(object_check)

    def check(value: Any) -> bool:
        return all(c(value) for c in checks)

    return check


def _bound(key: str, bound: float) -> Check:
    def check(value: Any) -> bool:
        if not _number(value):
            return True
        if key == "minimum":
            return bool(value >= bound)
        if key == "maximum":
            return bool(value <= bound)
        if key == "exclusiveMinimum":
            return bool(value > bound)
        return bool(value < bound)

    return check


def _length(at_least: bool, size: int) -> Check:
    def check(value: Any) -> bool:
        if not isinstance(value, str):
            return True
        return len(value) >= size if at_least else len(value) <= size

    return check


def _pattern(pattern: Matcher) -> Check:
    def check(value: Any) -> bool:
        return not isinstance(value, str) or pattern.search(value) is not None

    return check


def _types(names: tuple[str, ...]) -> Check:
    def check(value: Any) -> bool:
        return any(_is_type(value, n) for n in names)

    return check


def _object_checks(schema: dict[str, Any]) -> tuple[bool, Check | None]:
    """(supported, check); check None: nothing to check for objects."""
    props_raw = schema.get("properties", {})
    required = schema.get("required", [])
    extra = schema.get("additionalProperties", True)
    max_props = schema.get("maxProperties")
    names_schema = schema.get("propertyNames", True)
    if not isinstance(props_raw, dict) or not isinstance(required, list):
        return False, None
    if not all(isinstance(r, str) for r in required) or not isinstance(extra, bool):
        return False, None
    if max_props is not None and (not isinstance(max_props, int) or isinstance(max_props, bool)):
        return False, None
    props: dict[str, Check] = {}
    for name, sub in props_raw.items():
        compiled = compile_simple(sub)
        if compiled is None:
            return False, None
        props[name] = compiled
    names = compile_simple(names_schema)
    if names is None:
        return False, None
    if not props and not required and extra and max_props is None and names_schema is True:
        return True, None

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        if max_props is not None and len(value) > max_props:
            return False
        for name in required:
            if name not in value:
                return False
        for key, item in value.items():
            sub = props.get(key)
            if sub is not None:
                if not sub(item):
                    return False
            elif not extra:
                return False
            if names_schema is not True and not names(key):
                return False
        return True

    return True, check
