"""docs/cli.md is the live `--help` of every command, and every command's help shows an example."""

from __future__ import annotations

import typer.main

from haven import clidoc
from haven.cli import app


def _leaves(command, path="haven"):
    subs = getattr(command, "commands", None)
    if not subs:
        yield path, command
        return
    for name, sub in subs.items():
        yield from _leaves(sub, f"{path} {name}")


def test_docs_cli_md_matches_the_live_help():
    assert clidoc.DOC.exists(), "docs/cli.md is missing: run `python -m haven.clidoc`"
    assert clidoc.DOC.read_text(encoding="utf-8") == clidoc.render(), (
        "docs/cli.md drifted from the commands' --help: run `python -m haven.clidoc` and commit it")


def test_render_does_not_depend_on_the_terminal_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    narrow = clidoc.render()
    monkeypatch.setenv("COLUMNS", "250")
    assert clidoc.render() == narrow


def test_every_command_help_has_an_example():
    missing = [path for path, cmd in _leaves(typer.main.get_command(app))
               if "Example" not in (cmd.help or "")]
    assert not missing, f"commands without an example in their help: {missing}"


def test_help_shows_no_typer_internals():
    text = clidoc.render()
    for leak in ("<list[", "<path>", "<str>", "<int", "<float>", "<file>", "{"):
        lines = [ln for ln in text.splitlines() if leak in ln and ln.lstrip().startswith(("Usage:", "-", "["))]
        assert not lines, f"{leak!r} in help: {lines[:3]}"
