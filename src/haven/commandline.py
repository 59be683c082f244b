"""How every `haven` command behaves, in one place: help layout, short options, and the last
line of defence that turns any error into one line on stderr.

`HavenGroup` is the root group's class. When Typer builds the command tree it walks every
command below it (including those other modules register), so a command added anywhere gets
the same conventions without repeating them:

- help shows `EVIDENCE...`, `--case PATH` (never Typer's `{evidence}...` or `<list[Path]>`),
  and example paragraphs keep their line breaks so they can be copied;
- the common options get their short form (see `SHORT_OPTIONS`, documented in docs/cli.md);
- `-h` is `--help` everywhere (set on the root context, inherited by every sub-command);
- a `HavenError`, an `OSError` or anything unexpected ends the command with one line and a
  non-zero status, never a traceback (set HAVEN_DEBUG=1 to see one); Ctrl-C exits 130.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import traceback
from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from haven.errors import HavenError
from haven.terminal import say_error

# The common options and their short forms. Only added where the command has the long option
# and the short one is still free.
SHORT_OPTIONS = {
    "--case": "-c",
    "--out": "-o",
    "--json": "-j",
    "--name": "-n",
    "--format": "-f",
    "--workers": "-w",
}

EXIT_ERROR = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130

_TYPE_NAMES = {"path": "PATH", "dir": "DIR", "file": "FILE", "int": "INTEGER",
               "int range": "INTEGER", "float": "NUMBER", "float range": "NUMBER", "str": "TEXT",
               "bool": "BOOLEAN", "datetime": "DATETIME"}


class _Argument(TyperArgument):
    """An argument shown as `NAME` / `[NAME]` / `NAME...` in usage and help."""

    def _label(self) -> str:
        return self.metavar or (self.name or "").upper()

    def _usage_display_name(self) -> str:
        name = self._label() if self.required else f"[{self._label()}]"
        return name + ("..." if self.nargs != 1 else "")

    def _rich_display_name(self) -> str:
        return self._label() + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> None:
        return None

    def get_error_hint(self) -> str:
        return f"'{self._label()}'"


class _Option(TyperOption):
    """An option shown as `--case PATH`, `--workers INTEGER`, `--engine [local|spark]`."""

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        shown = super().display_type_rich(ctx)
        if not shown:
            return shown
        label = shown.removesuffix("...").strip("<>")
        label = re.sub(r"^list\[(.*)\]$", r"\1", label)
        if "|" in label:
            return f"[{label}]"
        return _TYPE_NAMES.get(label.lower(), label.upper())


def _keep_examples(text: str | None) -> str | None:
    """Mark example paragraphs so the help formatter keeps their lines as written."""
    if not text:
        return text
    paragraphs = text.split("\n\n")
    for i, para in enumerate(paragraphs):
        lines = para.strip("\n").splitlines()
        if any(line.strip().startswith(("haven ", "Example")) for line in lines) \
                and not para.lstrip().startswith("\b"):
            paragraphs[i] = "\b\n" + para.strip("\n")
    return "\n\n".join(paragraphs)


def _conform(command: Any) -> None:
    """Apply the conventions to a command and everything below it."""
    command.rich_markup_mode = None
    command.help = _keep_examples(command.help)
    taken = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    for param in command.params:
        if type(param) is TyperArgument:
            param.__class__ = _Argument
        elif type(param) is TyperOption:
            param.__class__ = _Option
            for long, short in SHORT_OPTIONS.items():
                if long in param.opts and short not in taken:
                    param.opts.insert(0, short)
                    taken.add(short)
    for sub in getattr(command, "commands", {}).values():
        _conform(sub)


class HavenGroup(TyperGroup):
    """The root `haven` group: conventions on every command, and no tracebacks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _conform(self)

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

        try:
            rv = super().main(args, prog_name or "haven", complete_var, standalone_mode=False,
                              **extra)
        except NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "haven"
            say_error(f"{exc.format_message()} (`{where} -h` shows the usage)")
            sys.exit(exc.exit_code)
        except ClickException as exc:
            say_error(exc.format_message())
            sys.exit(exc.exit_code)
        except typer.Abort:
            say_error("aborted")
            sys.exit(EXIT_ERROR)
        except Exception as exc:  # noqa: BLE001 - e.g. a click.FileError while parsing
            if os.environ.get("HAVEN_DEBUG"):
                raise
            sys.exit(error_line(exc))
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, BrokenPipeError):
            raise  # a closed pipe (`haven … | head`) ends quietly, as Typer does
        except KeyboardInterrupt:
            say_error("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:  # noqa: BLE001 - the one place every error becomes a line
            from typer._click.exceptions import ClickException

            if isinstance(exc, ClickException) or os.environ.get("HAVEN_DEBUG"):
                raise
            raise typer.Exit(error_line(exc)) from None


def error_line(exc: BaseException) -> int:
    """Print `exc` as one line and return the exit status it deserves."""
    if isinstance(exc, HavenError):
        say_error(str(exc))
        return EXIT_ERROR
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        say_error(f"{exc.strerror or exc}{where}")
        return EXIT_ERROR
    saved = _save_traceback(exc)
    say_error(f"internal error ({type(exc).__name__}: {exc}); this is a bug in haven"
                 + (f"; details in {saved}" if saved else "")
                 + "; HAVEN_DEBUG=1 shows the traceback")
    return EXIT_INTERNAL


def _save_traceback(exc: BaseException) -> str | None:
    try:
        fd, path = tempfile.mkstemp(prefix="haven-error-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            f.write(" ".join(sys.argv) + "\n\n")
            traceback.print_exception(exc, file=f)
        return path
    except OSError:
        return None


def version_callback(value: bool) -> None:
    """`haven --version`: print the version and stop."""
    if value:
        from haven import __version__

        print(f"haven {__version__}")
        raise typer.Exit()
