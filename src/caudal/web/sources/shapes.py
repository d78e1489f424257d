"""Tolerant readers of list-shaped API bodies (`[...]`, `{"items": [...]}`, `{"results": ...}`)."""

from __future__ import annotations

from typing import Any

LIST_KEYS = ("items", "series", "results", "rates", "events", "runs", "entries", "data", "accounts")


def items(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return [x for x in body if isinstance(x, dict)]
    if isinstance(body, dict):
        for key in LIST_KEYS:
            value = body.get(key)
            if isinstance(value, list):
                return [x for x in value if isinstance(x, dict)]
    return []


def first(row: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    return default


def total(body: Any, fallback: int) -> int:
    if isinstance(body, dict):
        for key in ("count", "total"):
            value = body.get(key)
            if isinstance(value, int):
                return value
    return fallback


def next_cursor(body: Any) -> str | None:
    if isinstance(body, dict):
        value = first(body, "next_cursor", "cursor", "next")
        return str(value) if value else None
    return None
