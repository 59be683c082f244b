"""Generate docs/cli.md, the command-line reference, from the live `--help` of every command.

    python -m haven.clidoc            # rewrite docs/cli.md
    python -m haven.clidoc --check    # exit 1 when docs/cli.md differs from the live help

The help is rendered at a fixed width, so the file does not depend on the terminal it was made
in; tests/test_clidoc.py fails when the file drifts from the code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

WIDTH = 100
DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"

_HEADER = """\
# haven command-line reference

Generated from `haven --help` by `python -m haven.clidoc`; do not edit by hand. After adding or
changing a command or option, run `python -m haven.clidoc` and commit docs/cli.md
(tests/test_clidoc.py fails when it drifts from the code).

## Conventions

- `-h` / `--help` on every command; `haven --version` (`-V`).
- Short forms of the common options: {shorts}.
- `--json` (`-j`) on commands that list or summarise: JSON on stdout, progress on stderr.
- Results go to stdout, progress and errors to stderr. When stdout is not a terminal the
  output is plain: no colour, no wrapping, tables as tab-separated lines. `NO_COLOR` is honoured.
- Errors are one line (`error: …`) with exit status 2; Ctrl-C stops with status 130 (work done
  so far is kept: run the same command again to resume); an unexpected failure is one line
  with exit status 1 naming a file that holds the details (`HAVEN_DEBUG=1` shows the traceback).

## Commands

"""


def _walk(command: Any, ctx: Any) -> Iterator[tuple[str, Any, Any]]:
    from typer._click import Context

    yield ctx.command_path, command, ctx
    subs = getattr(command, "commands", {})
    for name in subs:
        sub = subs[name]
        if getattr(sub, "hidden", False):
            continue
        yield from _walk(sub, Context(sub, info_name=name, parent=ctx, terminal_width=WIDTH,
                                      max_content_width=WIDTH))


def render() -> str:
    """The whole of docs/cli.md for the commands as they are now."""
    import typer.main
    from typer._click import Context

    from haven.cli import app
    from haven.commandline import SHORT_OPTIONS

    root = typer.main.get_command(app)
    shorts = ", ".join(f"`{s}` {long}" for long, s in SHORT_OPTIONS.items())
    parts = [_HEADER.format(shorts=shorts)]
    entries = list(_walk(root, Context(root, info_name="haven", terminal_width=WIDTH,
                                       max_content_width=WIDTH)))
    for path, _command, _ctx in entries:
        parts.append(f"- [`{path}`](#{path.replace(' ', '-')})\n")
    for path, command, ctx in entries:
        help_text = command.get_help(ctx).rstrip()
        parts.append(f"\n<a id=\"{path.replace(' ', '-')}\"></a>\n\n### {path}\n\n```text\n"
                     f"{help_text}\n```\n")
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is out of date: run `python -m haven.clidoc`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
