"""Terminal output shared by every command group: results on stdout; progress, warnings and
errors on stderr, so `haven … > file` captures results only.

When stdout is not a terminal (a pipe, a file), results are plain: no colour, no line wrapping,
and tables become tab-separated lines that are never cut short. `NO_COLOR` is honoured
everywhere (by rich)."""

from __future__ import annotations

import json
import os
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text


class ResultConsole(Console):
    """stdout: rich on a terminal; plain, untruncated text otherwise."""

    def print(self, *objects: Any, **kwargs: Any) -> None:  # noqa: A003 - rich's name
        if self.is_terminal:
            return super().print(*objects, **kwargs)
        kwargs.setdefault("soft_wrap", True)
        for obj in objects:
            if isinstance(obj, Table):
                self._plain_table(obj)
            else:
                super().print(obj, **kwargs)

    def _plain_table(self, table: Table) -> None:
        lines = [_plain(table.title)] if table.title else []
        cells = [list(c.cells) for c in table.columns]
        lines.append("\t".join(_plain(c.header) for c in table.columns))
        lines += ["\t".join(_plain(col[i]) for col in cells) for i in range(table.row_count)]
        self.file.write("".join(line + "\n" for line in lines))
        self.file.flush()


def _plain(cell: Any) -> str:
    if isinstance(cell, Text):
        text = cell.plain
    elif isinstance(cell, str):
        text = Text.from_markup(cell).plain
    else:
        text = str(cell)
    return " ".join(text.split())


# NO_COLOR: rich drops colours by itself; no style at all is what users of the variable expect.
_NO_STYLE = {"color_system": None} if os.environ.get("NO_COLOR") else {}
console = Console(stderr=True, **_NO_STYLE)
out = ResultConsole(**_NO_STYLE)


def print_json(data: Any) -> None:
    """Print `data` as JSON on stdout (indented on a terminal, one line otherwise)."""
    text = json.dumps(data, default=str, ensure_ascii=False,
                      indent=2 if out.is_terminal else None)
    out.file.write(text + "\n")
    out.file.flush()


def say_error(message: str) -> None:
    """Print `error: message` as one line on stderr (never read as markup)."""
    console.print(f"[bold red]error:[/] {escape(' '.join(message.split()))}", highlight=False,
                  soft_wrap=True)


def fail(exc: Exception) -> NoReturn:
    """Print a user-facing error on one line and exit with status 2."""
    say_error(str(exc))
    raise typer.Exit(2)
