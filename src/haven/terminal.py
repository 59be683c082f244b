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
console = Console(stderr=True, soft_wrap=True, **_NO_STYLE)
out = ResultConsole(**_NO_STYLE)


def _jsonable(obj: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return str(obj)


def print_json(data: Any) -> None:
    """Print `data` as JSON on stdout (indented on a terminal, one line otherwise)."""
    text = json.dumps(data, default=_jsonable, ensure_ascii=False,
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


def interrupted(saved: str) -> NoReturn:
    """Ctrl-C during resumable work: say what is kept and how to go on; exit 130."""
    console.print(f"interrupted: {saved}; run the same command to resume", highlight=False,
                  soft_wrap=True)
    raise typer.Exit(130)


class Stages:
    """Progress of work done in stages, on stderr: the running stage shows its count, bar and
    time; each finished stage stays as one line (`✓ resolving: 12,000 in 3.2 s`), so a log
    of a run off a terminal says what took how long.

    with Stages() as stages:
        stages.stage("loading models")
        stages.stage("indexing", total=300)
        stages.update(completed=12)
    """

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
        )

        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                                 transient=True)
        self.task = None
        self.name = ""
        self.started = 0.0
        self.log = LogTicker()

    def __enter__(self) -> "Stages":
        self.progress.__enter__()
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self._finish()
        self.progress.__exit__(exc_type, *rest)

    def stage(self, name: str, total: float | None = None) -> None:
        """Finish the running stage (one line) and start `name`; same name: nothing happens."""
        import time

        if name == self.name and self.task is not None:
            return
        self._finish()
        self.name, self.started = name, time.monotonic()
        self.task = self.progress.add_task(name, total=total)

    def update(self, completed: float | None = None, total: float | None = None,
               description: str | None = None) -> None:
        if self.task is None:
            self.stage(description or "working")
        kw: dict = {}
        if completed is not None:
            kw["completed"] = completed
        if total is not None:
            kw["total"] = total
        if description is not None:
            kw["description"] = description
        self.progress.update(self.task, **kw)
        task = self.progress.tasks[-1]
        of = f"/{task.total:,.0f}" if task.total else ""
        self.log.tick(f"{task.description}: {task.completed:,.0f}{of}")

    def _finish(self) -> None:
        import time

        if self.task is None:
            return
        done = self.progress.tasks[-1].completed if self.progress.tasks else 0
        count = f": {done:,.0f}" if done else ""
        self.progress.console.print(
            f"✓ {escape(self.name)}{count} in {time.monotonic() - self.started:.1f} s",
            highlight=False, soft_wrap=True)
        self.progress.remove_task(self.task)
        self.task = None


class LogTicker:
    """Off a terminal a live bar draws nothing: a line every `every` seconds instead, so a log
    of a long run shows it moving."""

    def __init__(self, every: float = 30.0) -> None:
        import time

        self.every = every
        self.last = time.monotonic()

    def tick(self, line: str) -> None:
        import time

        if console.is_terminal or time.monotonic() - self.last < self.every:
            return
        self.last = time.monotonic()
        console.print(f"… {escape(line)}", highlight=False, soft_wrap=True)
