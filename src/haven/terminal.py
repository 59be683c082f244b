"""Terminal output shared by every command group: results on stdout; progress, warnings and
errors on stderr, so `haven … > file` captures results only."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console(stderr=True)
out = Console()


def fail(exc: Exception) -> NoReturn:
    """Print a user-facing error and exit with status 2 (the message is never read as markup)."""
    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
    raise typer.Exit(2)
