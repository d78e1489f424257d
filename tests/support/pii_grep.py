"""Find personal data in clear where it must not be: every file under a directory (PostgreSQL
heap and WAL, lake, logs, key files...) and any text (API answers, CLI output, log lines).

Reusable by every PII test: build the needles once (`needles`), then `grep_tree` and
`grep_text`; an erasure test adds its step and greps again.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Hit:
    where: str  # a file path, or the label of a text
    needle: str
    offset: int


def format_cpf(digits: str) -> str:
    return f"{digits[:3]}.{digits[3:6]}.{digits[6:9]}-{digits[9:]}"


def needles(cpfs: Iterable[str] = (), names: Iterable[str] = ()) -> list[str]:
    """Each CPF as digits and formatted; each name whole. Names should be distinctive (no
    word that could occur by chance) and ASCII (JSON may escape other letters)."""
    found: list[str] = []
    for cpf in cpfs:
        digits = "".join(c for c in cpf if c.isdigit())
        found += [digits, format_cpf(digits)]
    return found + list(names)


def grep_bytes(where: str, data: bytes, wanted: Sequence[str]) -> list[Hit]:
    hits = []
    for needle in wanted:
        offset = data.find(needle.encode())
        if offset >= 0:
            hits.append(Hit(where, needle, offset))
    return hits


def grep_text(where: str, text: str, wanted: Sequence[str]) -> list[Hit]:
    return grep_bytes(where, text.encode(), wanted)


def grep_tree(root: Path, wanted: Sequence[str]) -> list[Hit]:
    """Every regular file under `root`, read raw (a compressed file, such as Parquet, hides
    its content: check it through its reader too)."""
    hits: list[Hit] = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if not path.is_file() or path.is_symlink():
                continue
            try:
                data = path.read_bytes()
            except OSError:  # vanished meanwhile (a temporary file)
                continue
            hits += grep_bytes(str(path), data, wanted)
    return hits


def report(hits: Sequence[Hit]) -> str:
    return "\n".join(f"{h.where} @ {h.offset}: {h.needle!r}" for h in hits)
