"""Tables that fit an 80-column terminal: the key columns by default, every column with `--wide`.

rich squeezes a table into the terminal by cutting cells with an ellipsis, which hides exactly
what a user needs (an id, an error). So the default view shows only the columns marked `key`,
folding long values onto more lines instead of cutting them; `--wide` prints every column at its
natural width (scroll or pipe to `less -S`); `--json` (where offered) is for scripts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from caudal.cli.console import err, out

WIDE_HINT = "--wide shows every column; --json is for scripts"


@dataclass(frozen=True)
class Column:
    name: str
    key: bool = True  # shown in the 80-column view
    right: bool = False  # numbers
    whole: bool = False  # an identifier: never folded (the other columns give way)


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    wide: bool,
    title: str | None = None,
    hint: str | None = WIDE_HINT,
) -> None:
    shown = [i for i, c in enumerate(columns) if wide or c.key]
    table = Table(title=title)
    for i in shown:
        column = columns[i]
        table.add_column(
            column.name,
            justify="right" if column.right else "left",
            overflow="fold",
            no_wrap=wide or column.whole,
            min_width=None if wide or not column.whole else max(len(column.name), 8),
        )
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    if wide:
        Console(width=max(out.width, 10_000), soft_wrap=True).print(table, crop=False)
    else:
        out.print(table)
    if hint and not wide and len(shown) < len(columns):
        err.print(f"[dim]{hint}[/]")
