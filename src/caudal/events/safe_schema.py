"""JSON Schema validation that a registered schema cannot turn against the server.

A schema comes from a client (POST /v1/schemas), so nothing in it is followed or run without a
bound (DESIGN.md, "Nothing trusts a client-supplied pointer"):

- `$ref` resolves only inside the schema itself and the JSON Schema meta-schemas: the
  `referencing.Registry` given to jsonschema retrieves nothing (jsonschema's default would GET
  any URL, on the event loop, with no timeout). A `$ref` that does not resolve there is refused
  at registration (`CAU-EVT-SCHEMA-REMOTE-REF`).
- `pattern`, `patternProperties` and the `regex` format run on RE2 (linear time); a pattern RE2
  cannot compile is refused at registration (`CAU-EVT-SCHEMA-PATTERN`).
- every keyword checks a deadline (`validation_budget`), so even a schema whose combinators
  explode (nested `anyOf`) stops within its budget with `BudgetExceeded`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, NoReturn

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.protocols import Validator
from jsonschema_specifications import REGISTRY as SPECIFICATIONS  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

from caudal.platform.linear_regex import Matcher, PatternError, compile_linear

REMOTE_REF = "CAU-EVT-SCHEMA-REMOTE-REF"
BAD_PATTERN = "CAU-EVT-SCHEMA-PATTERN"
DIALECTS = frozenset(
    {
        "https://json-schema.org/draft/2020-12/schema",
        "https://json-schema.org/draft/2020-12/schema#",
    }
)
# Keywords whose values are data, not schemas: never walked for `$ref` or `pattern`.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


class UnsafeSchema(ValueError):
    def __init__(self, code: str, message: str, field_name: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field_name


class BudgetExceeded(Exception):
    """Validation ran past its deadline (set by `validation_budget`)."""


def _refuse(uri: str) -> NoReturn:
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # an attrs class


# jsonschema combines it with the meta-schemas; anything else is refused, never fetched.
LOCAL_ONLY: Registry[Any] = Registry(retrieve=_refuse)  # type: ignore[call-arg]

_deadline: ContextVar[float | None] = ContextVar("caudal_validation_deadline", default=None)


class validation_budget:
    """Validation in this context raises BudgetExceeded once `seconds` have passed.

    A class rather than a `@contextmanager` generator: every ingestion request enters one, and
    the generator's creation, `next` and `StopIteration` cost ~1.5 µs more (as `deadline_scope`,
    platform/db/pool.py)."""

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds

    def __enter__(self) -> None:
        self._token = _deadline.set(time.monotonic() + self._seconds)

    def __exit__(self, *exc: object) -> None:
        _deadline.reset(self._token)


@contextmanager
def within_a_budget(default_seconds: float = 2.0) -> Iterator[None]:
    """The enclosing budget if there is one (the ingestion API sets it per request), else
    `default_seconds` for this validation alone (quarantine replay, CLI)."""
    if _deadline.get() is not None:
        yield
        return
    with validation_budget(default_seconds):
        yield


@lru_cache(maxsize=4096)
def linear(pattern: str) -> Matcher:
    return compile_linear(pattern)


# ---- the validator class: every keyword budgeted, regular expressions on RE2 ------------------

Keyword = Callable[[Any, Any, Any, dict[str, Any]], Iterator[ValidationError] | None]


def _budgeted(keyword: Keyword) -> Keyword:
    def check(
        validator: Any, value: Any, instance: Any, schema: dict[str, Any]
    ) -> Iterator[ValidationError]:
        deadline = _deadline.get()
        if deadline is not None and time.monotonic() > deadline:
            raise BudgetExceeded
        errors = keyword(validator, value, instance, schema)
        if errors is not None:
            yield from errors

    return check


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and linear(pattern).search(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any, patterns: dict[str, Any], instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if linear(pattern).search(key) is not None:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, extra_schema: Any, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    """jsonschema's, with patternProperties matched on RE2 (jsonschema uses `re` here)."""
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = sorted(
        (
            key
            for key in instance
            if key not in properties and not any(linear(p).search(key) for p in patterns)
        ),
        key=str,
    )
    if validator.is_type(extra_schema, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], extra_schema, path=extra)
    elif not extra_schema and extras:
        names = ", ".join(repr(each) for each in extras)
        if patterns:
            listed = ", ".join(repr(each) for each in sorted(patterns))
            verb = "does" if len(extras) == 1 else "do"
            yield ValidationError(f"{names} {verb} not match any of the regexes: {listed}")
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(
                f"Additional properties are not allowed ({names} {verb} unexpected)"
            )


FORMATS = FormatChecker()
for _name, _check in Draft202012Validator.FORMAT_CHECKER.checkers.items():
    if _name != "regex":
        FORMATS.checkers[_name] = _check


@FORMATS.checks("regex", raises=PatternError)
def _is_regex(instance: object) -> bool:
    return not isinstance(instance, str) or linear(instance) is not None


_KEYWORDS: dict[str, Keyword] = {
    **Draft202012Validator.VALIDATORS,
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
}
SafeValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {name: _budgeted(fn) for name, fn in _KEYWORDS.items()}
)


def validator(schema: dict[str, Any]) -> Validator:
    """The validator of a schema that `check_definition` accepted."""
    return SafeValidator(schema, registry=LOCAL_ONLY, format_checker=FORMATS)  # type: ignore[no-any-return]


# ---- registration checks ---------------------------------------------------------------------


def check_definition(schema: dict[str, Any]) -> None:
    """Refuse (UnsafeSchema) a schema with a `$ref` outside itself or a pattern RE2 refuses."""
    declared = schema.get("$schema")
    if declared is not None and declared not in DIALECTS:
        raise UnsafeSchema(
            "CAU-EVT-SCHEMA-DIALECT",
            "schemas are JSON Schema Draft 2020-12: `$schema` must be "
            "https://json-schema.org/draft/2020-12/schema (or be left out)",
            "schema.$schema",
        )
    root: Resource[Any] = DRAFT202012.create_resource(schema)
    resolver = LOCAL_ONLY.combine(SPECIFICATIONS).resolver_with_root(root)
    uses_unevaluated = False
    uses_pattern_properties = False
    stack: list[tuple[Any, str, Any]] = [(schema, "schema", resolver)]
    while stack:
        node, where, scope = stack.pop()
        if isinstance(node, list):
            stack.extend((item, f"{where}[{i}]", scope) for i, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("$id"), str) and node is not schema:
            scope = scope.in_subresource(DRAFT202012.create_resource(node))
        for keyword in ("$ref", "$dynamicRef"):
            ref = node.get(keyword)
            if isinstance(ref, str):
                _check_ref(scope, ref, f"{where}.{keyword}")
        if isinstance(node.get("pattern"), str):
            _check_pattern(node["pattern"], f"{where}.pattern")
        if isinstance(node.get("patternProperties"), dict):
            uses_pattern_properties = True
            for pattern in node["patternProperties"]:
                _check_pattern(pattern, f"{where}.patternProperties")
        if "unevaluatedProperties" in node:
            uses_unevaluated = True
        for key, child in node.items():
            if key not in _DATA_KEYWORDS:
                stack.append((child, f"{where}.{key}", scope))
    if uses_unevaluated and uses_pattern_properties:
        # jsonschema evaluates that pair with Python's backtracking `re`: not offered.
        raise UnsafeSchema(
            BAD_PATTERN,
            "patternProperties together with unevaluatedProperties is not supported; "
            "use additionalProperties",
            "schema.unevaluatedProperties",
        )


def _check_ref(resolver: Any, ref: str, where: str) -> None:
    try:
        resolver.lookup(ref)
    except Exception:  # Unresolvable, or anything a malformed reference raises
        raise UnsafeSchema(
            REMOTE_REF,
            f"`{ref[:200]}` does not resolve inside this schema: a `$ref` may only point into "
            "the schema itself (#/$defs/...) or to a JSON Schema meta-schema; nothing is fetched",
            where,
        ) from None


def _check_pattern(pattern: str, where: str) -> None:
    try:
        linear(pattern)
    except PatternError as exc:
        raise UnsafeSchema(
            BAD_PATTERN,
            f"pattern {pattern[:200]!r} is not supported ({exc}): patterns run on RE2, in linear "
            "time, without backreferences or lookarounds",
            where,
        ) from None
