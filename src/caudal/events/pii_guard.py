"""Personal data in an event whose schema does not mark it: refused, never stored in clear.

`events.pii` protects the properties a schema marks. A schema without marks (the generic
`click_*`, most schemas users register) could still let a CPF, a name or an address through, as
a declared property named `cpf`, as an extra property, or inside free text, and it would be
written in clear to the bus, the realtime table and the lake. Three rules close that:

1. Registration (`unmarked`): a property named like personal data (`personal.personal_name`),
   wherever it is declared (nested `properties`, `items`, `patternProperties`, `$defs`, ...),
   must carry `x-caudal-pii`: a kind, or `"none"` to say it is not personal. Else the schema is
   refused (`CAU-EVT-SCHEMA-PII-UNMARKED`, naming its path).
2. Intake, names (`scan`): a property of `data` the schema does not declare (through
   `properties`, and `items` for arrays; other keywords are not followed) whose name is personal
   is refused (`CAU-EVT-PII-UNDECLARED`). A schema stored before rule 1 existed may declare such
   a property without a mark: it counts as undeclared.
3. Intake, values (`scan`): a string or integer anywhere in `data` that holds a valid CPF is
   refused (`CAU-EVT-PII-CPF`), except under a marked property (tokenized or dropped by
   `events.pii`, or declared `"none"`); so is a property *name* holding one (the message then
   names its parent, never the name).

A refused item goes to quarantine, sealed at rest like every quarantined payload; its message
names the path, never the value. Cost, on the ingestion hot path: property names are checked on
every event (a dictionary lookup per key, answers cached by name); values only when the
request's raw bytes hold something CPF-shaped (`personal.may_hold_cpf`, two C passes), since
the CPF check runs a regular expression per string.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from caudal.events.personal import holds_cpf, personal_name
from caudal.events.pii import CPF_CODE, KEYWORD, NOT_PERSONAL, UNDECLARED_CODE, Refusal

UNMARKED_CODE = "CAU-EVT-SCHEMA-PII-UNMARKED"
# Keywords whose values are data, or maps whose keys are not property names.
_NOT_DECLARATIONS = frozenset({"const", "enum", "default", "examples", "required"})


@dataclass(frozen=True)
class Prop:
    mark: str | None  # a kind of `events.pii`, "none", or None (no mark)
    shape: Shape | None  # what it declares in turn (an object's properties, an array's items)


@dataclass(frozen=True)
class Shape:
    """What a schema declares of a value, as far as the intake's walk follows it."""

    props: Mapping[str, Prop]
    items: Shape | None


def shape(schema: Any) -> Shape | None:
    """The declarations of a schema (None: it declares nothing the walk follows). A personally
    named property without a mark is left out: it counts as undeclared."""
    if not isinstance(schema, dict):
        return None
    props: dict[str, Prop] = {}
    declared = schema.get("properties")
    for name, sub in declared.items() if isinstance(declared, dict) else ():
        mark = sub.get(KEYWORD) if isinstance(sub, dict) else None
        if mark is None and personal_name(str(name)):
            continue
        props[str(name)] = Prop(mark if isinstance(mark, str) else None, shape(sub))
    items = shape(schema.get("items"))
    return Shape(props, items) if props or items is not None else None


def unmarked(schema: Any) -> tuple[str, str] | None:
    """The first personally named property a schema declares without a mark: (its name, its
    path in the schema, `schema.properties.cliente.properties.nome`); None when there is none."""
    for name, where in _declared_names(schema, "schema"):
        return name, where
    return None


def _declared_names(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, list):
        for i, child in enumerate(node):
            yield from _declared_names(child, f"{path}.{i}")
        return
    if not isinstance(node, dict):
        return
    for key, child in node.items():
        if key in _NOT_DECLARATIONS:
            continue
        if key == "properties" and isinstance(child, dict):
            for name, sub in child.items():
                where = f"{path}.properties.{name}"
                if personal_name(str(name)) and not (isinstance(sub, dict) and KEYWORD in sub):
                    yield str(name), where
                yield from _declared_names(sub, where)
        else:
            yield from _declared_names(child, f"{path}.{key}")


def unmarked_message(name: str) -> str:
    return (
        f"property `{name[:100]}` is named like personal data: mark it "
        f'"{KEYWORD}": "cpf", "name", "address" or "free" if it holds personal data (honoured on '
        f'properties reached from the root through `properties`), or "{KEYWORD}": '
        f'"{NOT_PERSONAL}" if it does not'
    )


def scan(
    declared: Shape | None, data: Any, values: bool = True, root: str = "data"
) -> Refusal | None:
    """The first personal property or CPF value of `data` its schema does not account for.
    `values=False` (the raw body holds nothing CPF-shaped, `personal.may_hold_cpf`) checks the
    property names only; `root` begins the paths."""
    return _walk(declared, data, root, values)


def _walk(declared: Shape | None, value: Any, path: str, values: bool) -> Refusal | None:
    """A scalar is visited (its path built) only when its value is checked: most values are
    scalars, and with nothing CPF-shaped in the body (every event of the hot path) only the
    names are."""
    if isinstance(value, dict):
        props = declared.props if declared is not None else _NOTHING
        for key, child in value.items():
            if values and holds_cpf(key):  # a CPF as a property name: named by its parent only
                return _cpf(f"{path}.<a property name>")
            prop = props.get(key)
            if prop is None:
                if personal_name(key):
                    return _undeclared(f"{path}.{key}")
                inner, scanned = None, values
            elif prop.mark is None:
                inner, scanned = prop.shape, values
            elif prop.mark == NOT_PERSONAL:
                inner, scanned = prop.shape, False
            else:
                continue  # tokenized or dropped by `events.pii`
            if scanned or isinstance(child, dict | list):
                found = _walk(inner, child, f"{path}.{key}", scanned)
                if found is not None:
                    return found
    elif isinstance(value, list):
        items = declared.items if declared is not None else None
        for i, child in enumerate(value):
            if values or isinstance(child, dict | list):
                found = _walk(items, child, f"{path}[{i}]", values)
                if found is not None:
                    return found
    elif values and holds_cpf(value):
        return _cpf(path)
    return None


_NOTHING: Mapping[str, Prop] = {}


def _undeclared(where: str) -> Refusal:
    return Refusal(
        UNDECLARED_CODE,
        where,
        f"{where}: property named like personal data and not declared by the schema; declare "
        f'it with "{KEYWORD}" in a new schema version',
    )


def _cpf(where: str) -> Refusal:
    return Refusal(
        CPF_CODE,
        where,
        f"{where}: holds a valid CPF, and no {KEYWORD} mark says what to do with it; in a new "
        f'schema version, mark the property "{KEYWORD}": "cpf" (stored as its token) or '
        '"free" (dropped), or "none" if the number is not a CPF',
    )
