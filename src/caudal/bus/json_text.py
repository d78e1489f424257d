"""The one thing PostgreSQL's `jsonb` refused in a bus payload that `json` keeps: a NUL.

`bus.messages` and `bus.outbox` keep payloads as `json` text (bus migration 0004), which accepts
`\\u0000` in a string; `jsonb` never did. The sinks (`events.recent`), the dead letters and the
quarantine write payloads as `jsonb`, so a message holding a NUL would be published and then
fail everywhere downstream, dead letters included: it is refused at publish, with the error
PostgreSQL raised for it before (`UntranslatableCharacter`, a permanent `DataError`), so every
caller sees what it saw before. The HTTP layer already refuses NUL (CAU-REQ-NUL); this guards
every other publisher.
"""

from __future__ import annotations

import re

import psycopg.errors

# `\u0000` escaping a NUL: preceded by an even number of backslashes (`\\u0000` is a backslash
# then the text `u0000`, which jsonb accepts).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def refuse_nul(document: str) -> None:
    """Raise if the JSON text `document` holds a NUL character in a string or a key."""
    if "\\u0000" in document and _NUL_ESCAPE.search(document) is not None:
        raise psycopg.errors.UntranslatableCharacter(
            "unsupported Unicode escape sequence: \\u0000 cannot be converted to text "
            "(a bus message may not hold a NUL character)"
        )
