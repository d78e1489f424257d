"""Personal fields of an event, made safe at intake before anything is written.

A schema marks its personal properties with `"x-caudal-pii"`: `cpf` (replaced by the CPF's
keyed token, the blind index Base A and Base C look customers up by, so everything keyed by CPF
still works), `name`, `address` or `free` (dropped: no consumer needs them, Base A keeps the
customer's own, and a value that is never stored needs no erasure later). A schema with a
personal field also closes every object it declares properties for: a property it does not
declare could be personal too, so such an item is refused (quarantined), never stored in clear.

Only marks reachable from the root through `properties` are honoured; a mark anywhere else
(`items`, `anyOf`, ...) is refused when the schema is registered, so no mark is silently
ignored. `"x-caudal-pii": "none"` says a property is *not* personal (its name only looks so, or
its numbers pass for CPFs): it is allowed anywhere and changes nothing here; it exempts from
`events.pii_guard`'s scan for personal data a schema does not mark. The CPF rules and the key
belong to the customers capability: the intake asks a `CpfTokenizer` port, which that
capability provides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from caudal.events.personal import holds_cpf, personal_name
from caudal.platform.errors import unavailable

KEYWORD = "x-caudal-pii"
KINDS = ("cpf", "name", "address", "free")
NOT_PERSONAL = "none"
# What a tokenized CPF looks like in an event: the blind index, hex (HMAC-SHA256, 32 bytes).
CPF_TOKEN = re.compile(r"^[0-9a-f]{64}$")
UNDECLARED_CODE = "CAU-EVT-PII-UNDECLARED"
CPF_CODE = "CAU-EVT-PII-CPF"


class CpfTokenizer(Protocol):
    def cpf_token(self, value: str) -> str:
        """The keyed token of a CPF given with or without punctuation; ValueError when the
        text is not a valid CPF (the message must not quote it)."""


@dataclass(frozen=True)
class Tokenizers:
    """The ports a capability provides in `container.states` for the intake (today the
    customers capability: the CPF rules and the index key are its own)."""

    cpf: CpfTokenizer


class PiiMarkError(ValueError):
    """An `x-caudal-pii` mark that cannot be honoured; `path` names it in the schema."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


# A compiled plan: per declared property, its kind (None: not personal) and, for an object
# declaring properties of its own, the plan of its properties.
@dataclass(frozen=True)
class Field:
    kind: str | None
    children: Plan | None


Plan = dict[str, Field]


@dataclass(frozen=True)
class Refusal:
    code: str
    field: str  # `data.<path>`
    message: str  # names the path and the rule, never the value


def _marks(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every `x-caudal-pii` in a schema, wherever it stands, with its path."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == KEYWORD:
                if value != NOT_PERSONAL:
                    yield path, value
            else:
                yield from _marks(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _marks(value, f"{path}.{i}")


def _plan(schema: Any, path: str, honoured: set[str]) -> Plan | None:
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict):
        return None
    plan: Plan = {}
    for name, sub in props.items():
        where = f"{path}properties.{name}"
        kind = sub.get(KEYWORD) if isinstance(sub, dict) else None
        if kind == NOT_PERSONAL:
            kind = None
        if kind is not None:
            honoured.add(where)
            if kind not in KINDS:
                kinds = ", ".join((*KINDS, NOT_PERSONAL))
                raise PiiMarkError(f"{KEYWORD} must be one of {kinds}", where)
            if kind == "cpf" and sub.get("type") != "string":
                raise PiiMarkError(
                    f'a property marked {KEYWORD} "cpf" needs "type": "string"', where
                )
        plan[name] = Field(kind, None if kind else _plan(sub, f"{where}.", honoured))
    return plan


def compile_plan(schema: Any) -> Plan | None:
    """The plan of a schema with personal fields; None when it marks none. Raises
    `PiiMarkError` for a mark that is invalid or stands where the intake cannot honour it."""
    found = dict(_marks(schema, ""))
    if not found:
        return None
    honoured: set[str] = set()
    plan = _plan(schema, "", honoured)
    for where in found:
        if where not in honoured:
            raise PiiMarkError(
                f"{KEYWORD} is honoured only on properties reached from the root through "
                "`properties`",
                where or "(root)",
            )
    return plan


def undeclared(plan: Plan, data: Any, path: str = "data") -> Refusal | None:
    """The first property a schema with personal fields does not declare (it could be
    personal: refused rather than stored in clear)."""
    if not isinstance(data, dict):
        return None
    for key, value in data.items():
        where = f"{path}.{key}"
        field = plan.get(key)
        if field is None:
            return Refusal(
                UNDECLARED_CODE,
                where,
                f"{where}: property not declared by a schema with personal fields; declare it "
                f"(marked {KEYWORD} if personal) in a new schema version",
            )
        if field.children is not None and (found := undeclared(field.children, value, where)):
            return found
    return None


def protect(
    plan: Plan, data: dict[str, Any], tokens: CpfTokenizer | None, path: str = "data"
) -> Any:
    """`data` with each CPF replaced by its token and the other personal fields dropped; a
    `Refusal` when a CPF field does not hold a valid CPF."""
    safe: dict[str, Any] = {}
    for key, value in data.items():
        field = plan.get(key)
        where = f"{path}.{key}"
        if field is None or (field.kind is None and field.children is None):
            safe[key] = value
        elif field.kind == "cpf":
            if tokens is None:
                raise unavailable("the CPF tokenizer (customers capability) is not started")
            if not isinstance(value, str):
                return Refusal(CPF_CODE, where, f"{where}: expected a CPF string")
            try:
                safe[key] = tokens.cpf_token(value)
            except ValueError as exc:
                return Refusal(CPF_CODE, where, f"{where}: {exc}")
        elif field.kind is not None:
            continue  # name, address, free text: never leaves the intake
        elif isinstance(value, dict) and field.children is not None:
            inner = protect(field.children, value, tokens, where)
            if isinstance(inner, Refusal):
                return inner
            safe[key] = inner
        else:
            safe[key] = value
    return safe


def apply(plan: Plan | None, data: Any, tokens: CpfTokenizer | None) -> Any:
    """What the intake publishes for a valid item: `data` itself when the schema marks no
    personal field, else the protected copy (or a `Refusal`)."""
    if plan is None:
        return data
    refusal = undeclared(plan, data)
    if refusal is not None:
        return refusal
    return protect(plan, data, tokens) if isinstance(data, dict) else data


REDACTED = "[redacted]"


def redact(plan: Plan | None, data: Any) -> Any:
    """`data` as it may be shown (quarantine listings): the values of marked properties, of
    properties a schema with personal fields does not declare, of properties named like
    personal data (`personal.personal_name`, whatever the schema says, or when there is none)
    and every string or integer holding a CPF replaced by `[redacted]`; everything else kept,
    for diagnosis."""
    if isinstance(data, list):
        return [redact(None, item) for item in data]
    if not isinstance(data, dict):
        return REDACTED if holds_cpf(data) else data
    shown: dict[str, Any] = {}
    for key, value in data.items():
        field = None if plan is None else plan.get(key)
        hidden = (
            personal_name(str(key))
            or (plan is not None and field is None)
            or (field is not None and field.kind is not None)
        )
        shown[key] = (
            REDACTED if hidden else redact(None if field is None else field.children, value)
        )
    return shown
