"""Results are plain when stdout is not a terminal; NO_COLOR is honoured."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from rich.table import Table

from haven.terminal import ResultConsole


def test_tables_become_tab_separated_untruncated_lines_off_a_terminal():
    buf = io.StringIO()
    con = ResultConsole(file=buf, force_terminal=False, width=40)
    table = Table(title="Hash sets")
    table.add_column("name")
    table.add_column("path")
    long_path = "/evidence/" + "very-long-folder-name/" * 6 + "a.jpg"
    table.add_row("[bold]rose[/]", long_path)
    con.print(table)
    con.print("Report: " + long_path)
    assert buf.getvalue().splitlines() == [
        "Hash sets", "name\tpath", f"rose\t{long_path}", f"Report: {long_path}"]


def test_tables_are_drawn_on_a_terminal():
    buf = io.StringIO()
    con = ResultConsole(file=buf, force_terminal=True, width=80, color_system=None)
    table = Table("name")
    table.add_row("rose")
    con.print(table)
    assert "┃" in buf.getvalue() or "│" in buf.getvalue()


def test_no_color_is_honoured_even_when_colour_is_forced(tmp_path):
    env = {**os.environ, "FORCE_COLOR": "1", "NO_COLOR": "1", "TTY_COMPATIBLE": "1"}
    run = subprocess.run([sys.executable, "-m", "haven.cli", "hashsets", "list", "-c",
                          str(tmp_path / "none")], capture_output=True, text=True, env=env)
    assert run.returncode == 2
    assert "error:" in run.stderr and "\x1b[" not in run.stderr
    env.pop("NO_COLOR")
    run = subprocess.run([sys.executable, "-m", "haven.cli", "hashsets", "list", "-c",
                          str(tmp_path / "none")], capture_output=True, text=True, env=env)
    assert "\x1b[" in run.stderr  # the control: colour does appear without NO_COLOR


def test_off_a_terminal_long_stages_print_a_line_now_and_then(monkeypatch):
    from haven import terminal

    buf = io.StringIO()
    monkeypatch.setattr(terminal, "console", terminal.Console(file=buf, force_terminal=False,
                                                              soft_wrap=True))
    with terminal.Stages() as stages:
        stages.log.every = 0.0
        stages.stage("indexing items", total=3)
        stages.update(completed=1)
        stages.update(completed=2)
    lines = buf.getvalue().splitlines()
    assert lines[:2] == ["… indexing items: 1/3", "… indexing items: 2/3"]
    assert lines[2].startswith("✓ indexing items: 2 in ")
