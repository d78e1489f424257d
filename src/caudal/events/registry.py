"""The schema registry: a JSON Schema (Draft 2020-12) per (type, version), plus the rules for
adding a version. Pure logic; files and the database feed it (`registry_files`, `registry_store`).

Schemas describe an event's `data`: a backend event's `data` object, or a frontend item's extra
properties (everything but `timestamp`, `event_id` and `version`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator

from caudal.events import pii, pii_guard, safe_schema
from caudal.events.fast_schema import Check, compile_simple

# Always `fullmatch`: `$` also matches before a final newline (`"click_x\n"`).
TYPE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
# A registered type may end in `*` to cover a family (`click_*`).
REGISTERED_TYPE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,126}\*?")
VERSION_PATTERN = re.compile(r"[0-9A-Za-z][0-9A-Za-z.\-]{0,31}")
SOURCES = ("frontend", "backend", "any")
GENERIC_FRONTEND = "click_*"
BUDGET_EXCEEDED = "CAU-EVT-SCHEMA-BUDGET"


class SchemaDefinitionError(ValueError):
    """A schema that cannot be registered; `field` names the part at fault."""

    def __init__(self, code: str, message: str, field_name: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field_name


@dataclass(frozen=True)
class RegisteredSchema:
    type: str
    version: str
    source: str
    schema: dict[str, Any]
    description: str = ""
    origin: str = "package"  # "package", "directory" or "api"
    validator: Validator | None = field(compare=False, repr=False, default=None)
    fast: Check | None = field(compare=False, repr=False, default=None)  # see fast_schema
    pii: pii.Plan | None = field(compare=False, repr=False, default=None)  # personal fields
    # what the intake's scan for unmarked personal data follows (`pii_guard`)
    declared: pii_guard.Shape | None = field(compare=False, repr=False, default=None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "version": self.version,
            "source": self.source,
            "description": self.description,
            "origin": self.origin,
            "schema": self.schema,
        }


@dataclass(frozen=True)
class Violation:
    code: str
    message: str
    field: str


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Order versions numerically part by part ("1.10" after "1.9"); text parts after numbers."""
    parts = re.split(r"[.\-]", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def build(
    type_: str,
    version: str,
    source: str,
    schema: Any,
    description: str = "",
    origin: str = "api",
    *,
    names: bool = True,
) -> RegisteredSchema:
    """Check a definition and compile its validator; raise SchemaDefinitionError if unusable.
    `names=False` skips the rule that a personally named property carries a mark
    (`pii_guard.unmarked`): for schemas stored before it existed, which must still load (the
    intake treats such a property as undeclared)."""
    if not isinstance(type_, str) or not REGISTERED_TYPE_PATTERN.fullmatch(type_):
        raise SchemaDefinitionError(
            "CAU-EVT-SCHEMA-TYPE",
            "type must be 1-128 letters, digits or . _ : - (a trailing * covers a family)",
            "type",
        )
    if not isinstance(version, str) or not VERSION_PATTERN.fullmatch(version):
        raise SchemaDefinitionError(
            "CAU-EVT-SCHEMA-VERSION", "version must look like 1.0 (letters, digits, . -)", "version"
        )
    if source not in SOURCES:
        raise SchemaDefinitionError(
            "CAU-EVT-SCHEMA-SOURCE", "source must be frontend, backend or any", "source"
        )
    if not isinstance(schema, dict):
        raise SchemaDefinitionError(
            "CAU-EVT-SCHEMA-INVALID", "schema must be a JSON Schema object", "schema"
        )
    declared = schema.get("$schema")
    if declared is not None and "2020-12" not in str(declared):
        raise SchemaDefinitionError(
            "CAU-EVT-SCHEMA-DIALECT", "schemas are JSON Schema Draft 2020-12", "schema.$schema"
        )
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        raise SchemaDefinitionError(
            "CAU-EVT-SCHEMA-INVALID",
            f"not a valid JSON Schema: {exc.message}",
            f"schema.{where}" if where else "schema",
        ) from exc
    try:
        safe_schema.check_definition(schema)
    except safe_schema.UnsafeSchema as exc:
        raise SchemaDefinitionError(exc.code, exc.message, exc.field) from None
    try:
        plan = pii.compile_plan(schema)
    except pii.PiiMarkError as exc:
        raise SchemaDefinitionError("CAU-EVT-SCHEMA-PII", str(exc), f"schema.{exc.path}") from exc
    found = pii_guard.unmarked(schema) if names else None
    if found is not None:
        name, where = found
        raise SchemaDefinitionError(
            pii_guard.UNMARKED_CODE, pii_guard.unmarked_message(name), where
        )
    return RegisteredSchema(
        type_,
        version,
        source,
        schema,
        description,
        origin,
        safe_schema.validator(schema),
        compile_simple(schema),
        plan,
        pii_guard.shape(schema),
    )


def validate(entry: RegisteredSchema, data: Any) -> Violation | None:
    """The first violation of `data` against the schema (the most relevant one), or None. The
    message names the path and the rule, never the value: the value may be personal data
    (`data.cpf: expected string`, not jsonschema's `52998224725 is not of type 'string'`)."""
    if entry.fast is not None and entry.fast(data):
        return None  # the fast path only ever answers "valid" when jsonschema would
    assert entry.validator is not None, "entries come from build()"
    try:
        with safe_schema.within_a_budget():
            error = next(iter(entry.validator.iter_errors(data)), None)
    except safe_schema.BudgetExceeded:
        return Violation(
            BUDGET_EXCEEDED,
            "validation against this schema took longer than its time budget; the event is "
            "kept in quarantine",
            "data",
        )
    if error is None:
        return None
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.validator_value, list):
        missing = [
            name
            for name in error.validator_value
            if isinstance(error.instance, dict) and name not in error.instance
        ]
        parts += missing[:1]
    elif error.validator in ("additionalProperties", "unevaluatedProperties"):
        parts += _extra_properties(error)[:1]
    where = ".".join(["data", *parts])
    message = f"{where}: {_rule(error)}"
    return Violation(
        "CAU-EVT-SCHEMA-VIOLATION",
        message if len(message) <= 300 else message[:297] + "...",
        where,
    )


def _extra_properties(error: ValidationError) -> list[str]:
    """The properties an object may not have (their names: a name is not a value)."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    declared = schema.get("properties") or {}
    patterns = [safe_schema.linear(p) for p in (schema.get("patternProperties") or {})]
    instance = error.instance if isinstance(error.instance, dict) else {}
    return [
        str(k)
        for k in instance
        if k not in declared and not any(p.search(str(k)) for p in patterns)
    ]


_RULES = {
    "pattern": "does not match the pattern {}",
    "minLength": "shorter than {} character(s)",
    "maxLength": "longer than {} character(s)",
    "minimum": "below the minimum {}",
    "maximum": "above the maximum {}",
    "exclusiveMinimum": "not above {}",
    "exclusiveMaximum": "not below {}",
    "multipleOf": "not a multiple of {}",
    "format": "not a valid {}",
    "minItems": "fewer than {} item(s)",
    "maxItems": "more than {} item(s)",
    "minProperties": "fewer than {} propert(ies)",
    "maxProperties": "more than {} propert(ies)",
}
_FIXED = {
    "required": "required property is missing",
    "enum": "not one of the allowed values",
    "const": "not the allowed constant",
    "additionalProperties": "property not allowed by the schema",
    "unevaluatedProperties": "property not allowed by the schema",
    "propertyNames": "a property name breaks the schema's propertyNames rule",
    "uniqueItems": "items are not unique",
    "anyOf": "matches none of the allowed alternatives",
    "oneOf": "does not match exactly one of the alternatives",
    "not": "matches a forbidden schema",
    "contains": "no item matches the `contains` schema",
    "dependentRequired": "a property it depends on is missing",
}


def _rule(error: ValidationError) -> str:
    """The rule broken, from the schema alone (jsonschema's messages quote the instance)."""
    keyword, expected = str(error.validator), error.validator_value
    if keyword == "type":
        names = expected if isinstance(expected, list) else [expected]
        return "expected " + " or ".join(str(n) for n in names)
    if keyword in _RULES:
        return _RULES[keyword].format(expected)
    return _FIXED.get(keyword, f"breaks the schema's `{keyword}` rule")


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties")
    return props if isinstance(props, dict) else {}


def _types(prop: Any) -> frozenset[str] | None:
    if not isinstance(prop, dict) or "type" not in prop:
        return None
    declared = prop["type"]
    return frozenset([declared] if isinstance(declared, str) else declared)


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """What makes `new` refuse data `old` accepted: a removed or retyped property, or a newly
    required one. Nested object properties are compared the same way. Additions pass."""
    problems: list[str] = []
    old_props, new_props = _properties(old), _properties(new)
    for name, old_prop in old_props.items():
        where = f"{path}{name}"
        if name not in new_props:
            problems.append(f"property '{where}' was removed")
            continue
        new_prop = new_props[name]
        old_types, new_types = _types(old_prop), _types(new_prop)
        widened = (
            old_types == frozenset({"integer"}) and new_types is not None and "number" in new_types
        )
        if (
            old_types is not None
            and (new_types is None or not old_types <= new_types)
            and not widened
        ):
            problems.append(
                f"property '{where}' changed type from {sorted(old_types)} "
                f"to {sorted(new_types or [])}"
            )
        if isinstance(old_prop, dict) and isinstance(new_prop, dict):
            problems += breaking_changes(old_prop, new_prop, f"{where}.")
    old_required = set(old.get("required") or [])
    for name in sorted(set(new.get("required") or []) - old_required):
        problems.append(f"property '{path}{name}' became required")
    if not path and "type" in old and old.get("type") != new.get("type"):
        problems.append(f"'{path or 'data'}' changed type from {old.get('type')}")
    return problems


class Registry:
    """Every known schema, by (type, version). Lookups are dictionary reads on the hot path."""

    def __init__(self, entries: Iterable[RegisteredSchema] = ()) -> None:
        self._by_key: dict[tuple[str, str], RegisteredSchema] = {}
        self._families: list[RegisteredSchema] = []
        for entry in entries:
            self.add(entry)

    def add(self, entry: RegisteredSchema) -> bool:
        """Add an entry; False (and nothing changes) if (type, version) is already known."""
        key = (entry.type, entry.version)
        if key in self._by_key:
            return False
        self._by_key[key] = entry
        if entry.type.endswith("*"):
            self._families.append(entry)
        return True

    def __iter__(self) -> Iterator[RegisteredSchema]:
        return iter(sorted(self._by_key.values(), key=lambda e: (e.type, version_key(e.version))))

    def __len__(self) -> int:
        return len(self._by_key)

    def get(self, type_: str, version: str) -> RegisteredSchema | None:
        return self._by_key.get((type_, version))

    def versions(self, type_: str) -> list[RegisteredSchema]:
        found = [e for (t, _), e in self._by_key.items() if t == type_]
        return sorted(found, key=lambda e: version_key(e.version))

    def knows_type(self, type_: str) -> bool:
        return any(t == type_ for t, _ in self._by_key)

    def family(self, type_: str, version: str) -> RegisteredSchema | None:
        """A `prefix*` schema covering this type, at this version."""
        for entry in self._families:
            if entry.version == version and fnmatch.fnmatchcase(type_, entry.type):
                return entry
        return None

    def for_frontend(self, type_: str, version: str) -> RegisteredSchema | None:
        """A frontend item: its own schema, else a family's, else the generic click schema."""
        return (
            self._by_key.get((type_, version))
            or self.family(type_, version)
            or self._by_key.get((GENERIC_FRONTEND, "1.0"))
        )

    def check_addition(self, entry: RegisteredSchema) -> list[str]:
        """Breaking changes against the closest lower version of the same type (empty: fine)."""
        lower = [
            e
            for e in self.versions(entry.type)
            if version_key(e.version) < version_key(entry.version)
        ]
        higher = [
            e
            for e in self.versions(entry.type)
            if version_key(e.version) > version_key(entry.version)
        ]
        problems: list[str] = []
        if lower:
            problems += breaking_changes(lower[-1].schema, entry.schema)
        if higher:
            problems += [
                f"(against {higher[0].version}) {p}"
                for p in breaking_changes(entry.schema, higher[0].schema)
            ]
        return problems
