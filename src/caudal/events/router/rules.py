"""Routing rules: parsed from `routes.yaml` text (with line numbers) and matched against events.

Pure logic: no file or network I/O here (the reloading table lives in `router/table.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from itertools import product
from typing import Any, Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from caudal.events.model import CanonicalEvent
from caudal.platform.bus.model import KindFilter

Op = Literal["==", "!=", "in", "not in"]
_CONDITION = re.compile(r"^\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*(==|!=|not\s+in|in)\s+(.+?)\s*$")
_MISSING = object()
_RULE_KEYS = frozenset({"name", "match", "sinks"})
_MATCH_KEYS = frozenset({"source", "type", "version", "where"})


class RoutesError(ValueError):
    """An invalid routes file; the message starts with `<file>:<line>:`."""

    def __init__(self, where: str, line: int, message: str) -> None:
        super().__init__(f"{where}:{line}: {message}")
        self.where = where
        self.line = line
        self.reason = message


@dataclass(frozen=True, slots=True)
class Condition:
    path: tuple[str, ...]
    op: Op
    value: Any

    def holds(self, event: CanonicalEvent) -> bool:
        found = field_value(event, self.path)
        if self.op == "==":
            return found is not _MISSING and found == self.value
        if self.op == "!=":
            return found is _MISSING or found != self.value
        inside = found is not _MISSING and any(found == v for v in self.value)
        return inside if self.op == "in" else not inside


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    line: int
    sinks: tuple[str, ...]
    sources: tuple[str, ...] = ()  # globs; empty: any
    types: tuple[str, ...] = ()  # globs; empty: any
    versions: tuple[str, ...] = ()  # exact; empty: any
    where: tuple[Condition, ...] = ()

    def matches(self, event: CanonicalEvent) -> bool:
        if self.sources and not any(fnmatchcase(event.source, p) for p in self.sources):
            return False
        if self.types and not any(fnmatchcase(event.type, p) for p in self.types):
            return False
        if self.versions and str(event.version) not in self.versions:
            return False
        return all(c.holds(event) for c in self.where)


@dataclass(frozen=True, slots=True)
class RouteTable:
    rules: tuple[Rule, ...]
    origin: str = "routes.yaml"

    def sinks_for(self, event: CanonicalEvent) -> frozenset[str]:
        return frozenset(s for rule in self.rules if rule.matches(event) for s in rule.sinks)

    def sends(self, event: CanonicalEvent, sink: str) -> bool:
        return any(sink in rule.sinks and rule.matches(event) for rule in self.rules)

    def sends_every(self, sink: str) -> bool:
        """True when a rule sends `sink` every event (no `match`, no `where`): nothing about an
        event need be asked to know that the sink gets it."""
        return any(
            sink in rule.sinks and not (rule.sources or rule.types or rule.versions or rule.where)
            for rule in self.rules
        )

    def by_kind(self, sink: str) -> bool:
        """True when whether `sink` gets an event depends on its source, type and version
        alone (no `where` on the routes naming it): a consumer may then decide once per kind."""
        return all(not rule.where for rule in self.rules if sink in rule.sinks)

    def kinds(self, sink: str) -> KindFilter | None:
        """The kinds of event `sink` gets, for the bus to leave the others out of its fetch;
        None when it cannot be told by kind (a `where` names the sink, a rule takes every event,
        a glob has a character class) so the bus delivers everything and `sends` decides."""
        if not self.by_kind(sink):
            return None
        alternatives: list[tuple[str | None, str | None, str | None]] = []
        for rule in self.rules:
            if sink not in rule.sinks:
                continue
            if not (rule.sources or rule.types or rule.versions):
                return None
            if any("[" in glob for glob in (*rule.sources, *rule.types)):
                return None
            alternatives.extend(
                product(rule.sources or (None,), rule.types or (None,), rule.versions or (None,))
            )
        return KindFilter(tuple(alternatives))

    def sink_names(self) -> frozenset[str]:
        return frozenset(s for rule in self.rules for s in rule.sinks)

    def check_sinks(self, known: Iterable[str]) -> None:
        """Refuse a route naming a sink nobody registered (with the rule's line)."""
        registered = set(known)
        for rule in self.rules:
            for sink in rule.sinks:
                if sink not in registered:
                    raise RoutesError(
                        self.origin,
                        rule.line,
                        f"rule '{rule.name}' names unknown sink '{sink}' "
                        f"(registered: {', '.join(sorted(registered)) or 'none'})",
                    )


def field_value(event: CanonicalEvent, path: tuple[str, ...]) -> Any:
    """`data.x.y`, `device.platform`, `source`, ... of an event; a sentinel when absent."""
    head, rest = path[0], path[1:]
    if head == "data":
        value: Any = event.data
    elif head == "device":
        value = event.device
    elif head in ("id", "source", "type", "version", "trace_key"):
        value = getattr(event, head)
    else:
        return _MISSING
    for part in rest:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


# -- parsing -------------------------------------------------------------------------------


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class _Parser:
    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, node: Node, message: str) -> RoutesError:
        return RoutesError(self.origin, _line(node), message)

    def mapping(self, node: Node, what: str, allowed: frozenset[str]) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        found: dict[str, Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else None
            if name not in allowed:
                raise self.fail(
                    key, f"unknown key '{name}' in {what} (allowed: {', '.join(sorted(allowed))})"
                )
            if name in found:
                raise self.fail(key, f"duplicate key '{name}' in {what}")
            found[name] = value
        return found

    def strings(self, node: Node, what: str, *, allow_empty: bool = False) -> tuple[str, ...]:
        items = node.value if isinstance(node, SequenceNode) else [node]
        values: list[str] = []
        for item in items:
            if not isinstance(item, ScalarNode) or item.value == "":
                raise self.fail(item, f"{what} must be a string or a list of strings")
            values.append(str(item.value))
        if not values and not allow_empty:
            raise self.fail(node, f"{what} must not be empty")
        return tuple(values)

    def condition(self, node: Node) -> Condition:
        if not isinstance(node, ScalarNode):
            raise self.fail(node, "a `where` condition is a string such as 'data.x == v'")
        match = _CONDITION.match(str(node.value))
        if match is None:
            raise self.fail(
                node,
                f"cannot read condition '{node.value}'; write 'data.field == value' "
                "(or !=, in [a, b], not in [a, b])",
            )
        path, op, raw = match.group(1), " ".join(match.group(2).split()), match.group(3)
        if path.split(".")[0] not in ("data", "device", "id", "source", "type", "version"):
            raise self.fail(node, f"condition on '{path}': start with data., device., or a field")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise self.fail(node, f"cannot read the value '{raw}' of a condition") from exc
        if op in ("in", "not in") and not isinstance(value, list):
            raise self.fail(node, f"'{op}' takes a list, e.g. {path} {op} [a, b]")
        return Condition(tuple(path.split(".")), op, value)  # type: ignore[arg-type]

    def rule(self, node: Node, index: int) -> Rule:
        fields = self.mapping(node, "a route", _RULE_KEYS)
        if "sinks" not in fields:
            raise self.fail(node, "a route needs `sinks` (a list of sink names)")
        name = self.strings(fields["name"], "name")[0] if "name" in fields else f"#{index + 1}"
        sinks = self.strings(fields["sinks"], "sinks")
        rule = Rule(name=name, line=_line(node), sinks=sinks)
        if "match" not in fields:
            return rule
        match_node = fields["match"]
        if isinstance(match_node, MappingNode) and not match_node.value:
            return rule  # `match: {}`: every event
        match = self.mapping(match_node, "match", _MATCH_KEYS)
        where: tuple[Condition, ...] = ()
        if "where" in match:
            node_where = match["where"]
            items = node_where.value if isinstance(node_where, SequenceNode) else [node_where]
            where = tuple(self.condition(item) for item in items)
        return Rule(
            name=name,
            line=rule.line,
            sinks=sinks,
            sources=self.strings(match["source"], "source") if "source" in match else (),
            types=self.strings(match["type"], "type") if "type" in match else (),
            versions=self.strings(match["version"], "version") if "version" in match else (),
            where=where,
        )


def parse_routes(text: str, origin: str = "routes.yaml") -> RouteTable:
    """Read a routes file; `RoutesError` names the line at fault."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else 1
        raise RoutesError(origin, line, f"not valid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise RoutesError(origin, 1, f"not valid YAML: {exc}") from exc
    if root is None:
        raise RoutesError(origin, 1, "the file is empty; it needs a `routes:` list")
    parser = _Parser(origin)
    top = parser.mapping(root, "the file", frozenset({"routes"}))
    if "routes" not in top:
        raise parser.fail(root, "the file needs a `routes:` list")
    routes = top["routes"]
    if not isinstance(routes, SequenceNode):
        raise parser.fail(routes, "`routes` must be a list of rules")
    rules = tuple(parser.rule(node, i) for i, node in enumerate(routes.value))
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise RoutesError(origin, rule.line, f"two routes are named '{rule.name}'")
        seen.add(rule.name)
    return RouteTable(rules, origin)
