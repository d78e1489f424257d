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


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_array(value: Any) -> bool:
    return isinstance(value, list)


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_boolean(value: Any) -> bool:
    return isinstance(value, bool)


def _is_null(value: Any) -> bool:
    return value is None


# A parsed body's numbers are exact `int` or `float`: the checks below answer those from their
# type alone (`type(True)` is `bool`, never `int`), then fall back to the general test.


def _is_number(value: Any) -> bool:
    kind = type(value)
    if kind is int or kind is float:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    if type(value) is int:
        return True
    if isinstance(value, int):
        return not isinstance(value, bool)
    return isinstance(value, float) and value.is_integer()


_TYPE_CHECKS: dict[str, Check] = {
    "object": _is_object,
    "array": _is_array,
    "string": _is_string,
    "boolean": _is_boolean,
    "null": _is_null,
    "number": _is_number,
    "integer": _is_integer,
}
_number = _is_number


def _always(_: Any) -> bool:
    return True


def _all(checks: list[Check]) -> Check:
    """One predicate for all of `checks`, without a generator per call: the fast path runs for
    every event, and most schemas give a value one or two checks."""
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks

        def both(value: Any) -> bool:
            return first(value) and second(value)

        return both
    frozen = tuple(checks)

    def every(value: Any) -> bool:
        return all(check(value) for check in frozen)

    return every


def compile_simple(schema: Any) -> Check | None:
    """A predicate equivalent to jsonschema's verdict for `schema`, or None if unsupported."""
    if schema is True:
        return _always
    if not isinstance(schema, dict) or not set(schema) <= _KEYWORDS:
        return None
    checks: list[Check] = []
    declared = schema.get("type")
    if declared is not None:
        names = [declared] if isinstance(declared, str) else declared
        if not isinstance(names, list) or not all(n in _TYPE_CHECKS for n in names):
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
    return _all(checks)


def _bound(key: str, bound: float) -> Check:
    """A bound applies to numbers only (not booleans); any other value passes it."""
    if key == "minimum":

        def minimum(value: Any) -> bool:
            if type(value) is int:
                return bool(value >= bound)
            return not _number(value) or bool(value >= bound)

        return minimum
    if key == "maximum":

        def maximum(value: Any) -> bool:
            if type(value) is int:
                return bool(value <= bound)
            return not _number(value) or bool(value <= bound)

        return maximum
    if key == "exclusiveMinimum":

        def above(value: Any) -> bool:
            if type(value) is int:
                return bool(value > bound)
            return not _number(value) or bool(value > bound)

        return above

    def below(value: Any) -> bool:
        if type(value) is int:
            return bool(value < bound)
        return not _number(value) or bool(value < bound)

    return below


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
    checks = tuple(_TYPE_CHECKS[n] for n in names)
    if len(checks) == 1:
        return checks[0]

    def any_of(value: Any) -> bool:
        return any(check(value) for check in checks)

    return any_of


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
    check_names = names_schema is not True

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
            if check_names and not names(key):
                return False
        return True

    return True, check
