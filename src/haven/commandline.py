"""How every `haven` command behaves, in one place: help layout, short options, and the last
line of defence that turns any error into one line on stderr.

`HavenGroup` is the root group's class. When Typer builds the command tree it walks every
command below it (including those other modules register), so a command added anywhere gets
the same conventions without repeating them:

- help shows `EVIDENCE...`, `--case PATH` (never Typer's `{evidence}...` or `<list[Path]>`),
  and example paragraphs keep their line breaks so they can be copied;
- the common options get their short form (see `SHORT_OPTIONS`, documented in docs/cli.md);
- `-h` is `--help` everywhere (set on the root context, inherited by every sub-command);
- commands that live in other packages (`LazyCommand`) are imported only when they run or
  when a help page lists them, so `haven scan` does not pay for the service, the intel
  resolver or victim identification at start-up;
- a `HavenError`, an `OSError` or anything unexpected ends the command with one line and a
  non-zero status, never a traceback (set HAVEN_DEBUG=1 to see one); Ctrl-C exits 130;
- a command whose start-up matters (`haven scan`) loads its modules with the cyclic garbage
  collector off (`hold_collection`) and, once loaded, freezes them out of every later
  collection (`settle`); such a command also ends without the interpreter's last collections
  (`end_quickly`), which spent 0.13-0.19 CPU-s after the scan's last line tracing the ~10^6
  objects SQLAlchemy, numpy and PIL made, only to free memory the exit frees anyway (what
  must be closed at exit is closed by an `atexit` hook, e.g. the case store's).
"""

from __future__ import annotations

import gc
import importlib
import os
import re
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

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


class _Slow(Exception):
    """A value `_QuickValues` leaves to Typer's own conversion."""


_DIGITS = re.compile(r"0|[1-9][0-9]{0,17}")
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,15})?")


class _QuickValues:
    """A parameter's value conversion without building pydantic models for the plain cases.

    Typer converts every parameter's value (the defaults too) through a pydantic
    `TypeAdapter` built at parse time: importing pydantic and building the adapters of
    `haven scan`'s 21 parameters cost ~0.04-0.05 CPU-s of its start-up, before its workers
    can start. The values haven's commands take are plain: text, paths, integers and
    decimals within a range, lists of them. Those are converted here to what Typer gives;
    anything else, and every value Typer would refuse, goes to Typer's own conversion
    (`full`), so its results and error messages are unchanged (tests/test_commandline.py
    compares the two on every parameter of every command).
    """

    def __init__(self, param: Any) -> None:
        d = param.type_descriptor
        self.descriptor, self.info, self.annotation = d, d.parameter_info, d.annotation
        self.multi = param.multiple or param.nargs == -1
        self._full: Any = None

    def full(self) -> Any:
        """Typer's own conversion of this parameter's values (built once, when first needed)."""
        if self._full is None:
            from typer._coercion import build_runtime_param

            self._full = build_runtime_param(self.descriptor)
        return self._full

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            if value is None:
                return () if self.multi else None
            if self.multi:
                if not isinstance(value, (list, tuple)) or getattr(
                        self.annotation, "__origin__", None) is not list:
                    raise _Slow
                (leaf,) = self.annotation.__args__
                return [self._leaf(leaf, v, param, ctx) for v in value]
            return self._leaf(self.annotation, value, param, ctx)
        except _Slow:
            return self.full().coerce(value, param=param, ctx=ctx)

    def _leaf(self, annotation: Any, value: Any, param: Any, ctx: Any) -> Any:
        info = self.info
        if info.parser is not None:
            raise _Slow
        kind = type(value)
        if annotation is str and kind is str:
            return value
        if annotation is int or annotation is float:
            if kind is str and (_DIGITS if annotation is int else _DECIMAL).fullmatch(value):
                value = annotation(value)
            elif kind is not annotation:
                raise _Slow
            if (info.min is not None and value < info.min) or (
                    info.max is not None and value > info.max) or info.clamp:
                raise _Slow
            return value
        if annotation is Path and info.path_type is None and not info.allow_dash:
            from typer._param_types import coerce_cli_path

            if kind is str and value:
                value = Path(value)
            elif not isinstance(value, Path):
                raise _Slow
            try:
                return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)
            except Exception:  # noqa: BLE001 - refused: Typer says why, as it would have
                raise _Slow from None
        raise _Slow


def _quicken(param: Any) -> Any:
    """Give `param` the quick value conversion (`_QuickValues`) where this Typer builds its
    own lazily (`_runtime_param`, still unbuilt); otherwise leave it as it is."""
    if (param is not None and getattr(param, "_runtime_param", False) is None
            and hasattr(param, "type_descriptor")):
        param._runtime_param = _QuickValues(param)
    return param


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
        _quicken(param)
    if hasattr(command, "get_help_option"):  # made when first asked for, converted as well
        typers = command.get_help_option
        command.get_help_option = lambda ctx: _quicken(typers(ctx))
    subs = getattr(command, "commands", {})
    # lazy commands are conformed as they load (`LazyCommand.load`)
    for sub in subs.eager() if isinstance(subs, _Commands) else subs.values():
        _conform(sub)


@dataclass(frozen=True)
class LazyCommand:
    """A sub-command imported at its first use: `target` is "package.module:attribute", a
    Typer app (`group=True`) or a command function."""

    target: str
    group: bool = False

    def load(self, name: str) -> Any:
        """The click command `target` names, under `name`, with the conventions applied."""
        import typer.main

        module, _, attribute = self.target.partition(":")
        obj = getattr(importlib.import_module(module), attribute)
        if self.group:
            command = typer.main.get_group(obj)
        else:
            single = typer.Typer(add_completion=False, rich_markup_mode=None)
            single.command(name)(obj)
            command = typer.main.get_command(single)
        command.name = name
        _conform(command)
        return command


class _Commands(dict):
    """A group's sub-commands by name, where a `LazyCommand` is swapped for the command it
    names the first time it is read (by running it, by help, or by walking the tree); the
    names alone (`keys`, `in`, `len`) import nothing."""

    def __getitem__(self, name: str) -> Any:
        command = super().__getitem__(name)
        if isinstance(command, LazyCommand):
            command = command.load(name)
            super().__setitem__(name, command)  # same key: the order is kept
        return command

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def values(self) -> list:  # type: ignore[override]
        return [self[name] for name in self]

    def items(self) -> list:  # type: ignore[override]
        return [(name, self[name]) for name in self]

    def eager(self) -> Iterator[Any]:
        """The commands already loaded, importing nothing."""
        return (c for c in super().values() if not isinstance(c, LazyCommand))


class HavenGroup(TyperGroup):
    """The root `haven` group: conventions on every command, and no tracebacks.

    A subclass lists its `lazy` commands by name. They are shown where Typer would put them
    had they been registered before the group's own: commands first, then groups.
    """

    lazy: dict[str, LazyCommand] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        eager = dict(self.commands)
        ordered = _Commands({n: c for n, c in self.lazy.items() if not c.group})
        ordered.update((n, c) for n, c in eager.items() if not hasattr(c, "commands"))
        ordered.update((n, c) for n, c in eager.items() if hasattr(c, "commands"))
        ordered.update((n, c) for n, c in self.lazy.items() if c.group)
        self.commands = ordered
        _conform(self)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands.keys())

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
        finally:
            end_quickly()
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


class HavenApp(typer.Typer):
    """The `haven` program as its console script (or `python -m haven.cli`) runs it: the
    process is the command's alone, so the collector settings below may apply. A command
    invoked inside another program (tests' `CliRunner`, an embedding application) leaves the
    collector as it found it."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        global _own_process, _settled
        _own_process = True
        try:
            return super().__call__(*args, **kwargs)
        finally:
            _own_process = _settled = False


_own_process = False  # set by `HavenApp.__call__`
_settled = False


def hold_collection() -> None:
    """Start-up of a command that loads many modules: no cyclic garbage collection until
    `settle`. Imports make long-lived objects only, so the collections they trigger found
    nothing to free (~10-15 % of the import time, 0.02-0.04 CPU-s of `haven scan`). Only in
    a process of its own (`HavenApp`)."""
    if _own_process:
        gc.disable()


def settle() -> None:
    """End of a command's start-up: what it loaded is kept out of every later collection
    (`gc.freeze`: forked workers share those pages untouched) and collection resumes. The
    command then also ends quickly (`end_quickly`). Only in a process of its own."""
    global _settled
    if _own_process:
        gc.freeze()
        gc.enable()
        _settled = True


def end_quickly() -> None:
    """Before the interpreter exits, after a command that settled: free what is garbage now,
    then freeze everything left, so the interpreter's own collections at exit trace nothing
    (see the module doc). Other commands end as Python ends them."""
    if _settled:
        gc.collect()
        gc.freeze()


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


# -- options shared by the commands that walk evidence (`haven scan`, `haven index`) -----------
PASSWORDS_OPTION = typer.Option(
    None, "--passwords", exists=True, dir_okay=False,
    help="Text file, one password per line, tried on every encrypted container (BitLocker "
    "recovery passwords, LUKS passphrases, FileVault, zip and 7z passwords). Never logged, "
    "never stored in the case.",
)
KEY_FILE_OPTION = typer.Option(
    None, "--key-file", exists=True, dir_okay=False,
    help="Key file tried on every encrypted volume (repeatable): a BitLocker .BEK startup key "
    "or recovery-key text file, a LUKS key file. Never stored in the case.",
)
