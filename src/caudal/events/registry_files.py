"""Schema files: the ones shipped in `caudal/events/schemas/` and an optional extra directory.

A file holds one definition: `{"type", "version", "source", "description", "schema"}`.
Dropping a file in `CAUDAL_EVENTS__SCHEMAS_DIR` adds a type with no code.
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import structlog

from caudal.events.registry import RegisteredSchema, SchemaDefinitionError, build

_log = structlog.get_logger("caudal.events.registry")


class SchemaFileError(ValueError):
    pass


def _load(entry: Traversable | Path, origin: str) -> RegisteredSchema:
    try:
        raw = json.loads(entry.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise SchemaFileError(f"schema file {entry.name}: not readable JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise SchemaFileError(f"schema file {entry.name}: expected an object")
    try:
        return build(
            raw.get("type"),  # type: ignore[arg-type]
            raw.get("version", "1.0"),
            raw.get("source", "any"),
            raw.get("schema"),
            str(raw.get("description", "")),
            origin,
        )
    except SchemaDefinitionError as exc:
        raise SchemaFileError(f"schema file {entry.name}: {exc.field}: {exc.message}") from exc


def shipped() -> list[RegisteredSchema]:
    folder = resources.files("caudal.events").joinpath("schemas")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    return [_load(f, "package") for f in files]


def from_directory(directory: Path) -> list[RegisteredSchema]:
    if not directory.is_dir():
        raise SchemaFileError(
            f"schemas directory {directory} does not exist; fix CAUDAL_EVENTS__SCHEMAS_DIR"
        )
    return [_load(f, "directory") for f in sorted(directory.glob("*.json"))]
