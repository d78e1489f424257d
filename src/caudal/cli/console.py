"""Shared rich consoles: results to stdout, progress and messages to stderr."""

from __future__ import annotations

from rich.console import Console

out = Console()
err = Console(stderr=True)


def fail(message: str, hint: str | None = None) -> None:
    err.print(f"[bold red]error:[/] {message}")
    if hint:
        err.print(f"[yellow]next:[/] {hint}")
