"""No tracebacks, ever (issue 12 §4): every command given bad input ends with one line
`error: …` and a non-zero status; nothing is created at a path that did not exist."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.core import TyperArgument
from typer.testing import CliRunner

from haven.cli import app

runner = CliRunner()
ROOT = typer.main.get_command(app)


def _leaves(command, path=()):
    subs = getattr(command, "commands", None)
    if not subs:
        yield path, command
        return
    for name, sub in subs.items():
        yield from _leaves(sub, (*path, name))


LEAVES = dict(_leaves(ROOT))

# Commands whose every required input can be a missing path do not need an entry: they get
# one generically. These have no required input, or one a missing path does not make bad.
SPECIAL = {
    ("demo",): ["--workers", "-1"],
    ("serve",): ["--port", "99999"],
    ("audit", "verify"): ["--data-dir", "{file}"],
    ("audit", "checkpoint"): ["--data-dir", "{file}"],
    ("service", "create-api-key"): ["somebody", "--data-dir", "{file}"],
    ("service", "unlock-login"): ["--user", "someone", "--data-dir", "{file}"],
    ("service", "revoke-api-key"): ["0123456789ab", "--data-dir", "{file}"],
    ("service", "create-user"): ["someone", "--role", "analyst", "--data-dir", "{file}"],
    ("intel", "decisions", "list"): ["--op", "{file}"],
    ("library", "create"): ["{file}"],
    ("scan",): ["{empty}", "--case", "{missing}"],
    ("index",): ["{empty}", "--case", "{missing}"],
    ("victimid", "index"): ["{empty}", "--case", "{missing}"],
}


def _generic_args(command, missing: str) -> list[str]:
    args: list[str] = []
    for p in command.params:
        if not p.required:
            continue
        if isinstance(p, TyperArgument):
            args.append(missing)
        else:
            args += [p.opts[-1], missing]
    return args


def _one_error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert "Traceback" not in result.output
    assert result.exit_code not in (0, None), result.output
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines[0]
    assert "internal error" not in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("path", sorted(LEAVES), ids=" ".join)
def test_every_command_refuses_bad_input_in_one_line(path, tmp_path, monkeypatch):
    missing = tmp_path / "missing" / "x"
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")
    empty = tmp_path / "empty-evidence"
    (empty / "sub").mkdir(parents=True)
    monkeypatch.setenv("HAVEN_DATA_DIR", str(a_file))
    monkeypatch.setenv("HAVEN_NEW_PASSWORD", "correct horse battery")
    monkeypatch.chdir(tmp_path)
    args = SPECIAL.get(path) or _generic_args(LEAVES[path], str(missing))
    args = [a.format(file=a_file, missing=missing, empty=empty) for a in args]
    _one_error_line(runner.invoke(app, [*path, *args]))
    assert not missing.exists() and not missing.parent.exists(), "bad input created a path"


def test_every_command_is_probed():
    """A command added later is probed too: generically, or through SPECIAL."""
    for path, command in LEAVES.items():
        assert path in SPECIAL or any(p.required for p in command.params), (
            f"{' '.join(path)} has no required input: give it a bad input in SPECIAL")


@pytest.mark.parametrize("args, says", [
    (["scan", "{ev}", "--case", "{case}", "--threshold", "999"], "'--threshold'"),
    (["scan", "{ev}", "--case", "{case}", "--workers", "-1"], "'--workers'"),
    (["scan", "{empty}", "--case", "{case}"], "no files found in evidence"),
    (["hashsets", "export", "--case", "{case}", "--out", "{dir}"], "is a directory"),
])
def test_refusals_named_by_the_issue(args, says, tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "a.txt").write_text("hello\n")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    sets = tmp_path / "set.txt"
    sets.write_text("d41d8cd98f00b204e9800998ecf8427e\n")
    case = tmp_path / "case"
    assert runner.invoke(app, ["hashsets", "import", str(sets), "-n", "s", "-c", str(case)]).exit_code == 0
    args = [a.format(ev=ev, empty=tmp_path / "empty", case=case, dir=tmp_path) for a in args]
    assert says in _one_error_line(runner.invoke(app, args))


def test_serve_refuses_a_port_out_of_range_without_listening(tmp_path):
    run = subprocess.run([sys.executable, "-m", "haven.cli", "serve", "--port", "99999",
                          "--data-dir", str(tmp_path)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and "'--port'" in run.stderr and "65535" in run.stderr


@pytest.fixture
def victim_case(tmp_path) -> Path:
    case = tmp_path / "case"
    sets = tmp_path / "set.txt"
    sets.write_text("d41d8cd98f00b204e9800998ecf8427e\n")
    assert runner.invoke(app, ["hashsets", "import", str(sets), "-n", "s", "-c", str(case)]).exit_code == 0
    return case


@pytest.mark.parametrize("command", [["victimid", "scene"], ["victimid", "faces", "find"]])
@pytest.mark.parametrize("query, says", [
    ("missing.jpg", "does not exist"), ("a-dir", "is a directory"),
    ("notes.jpg", "is not an image haven can read"),
])
def test_victimid_queries_that_are_not_images(command, query, says, victim_case, tmp_path):
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "notes.jpg").write_text("this is text, named .jpg\n")
    line = _one_error_line(runner.invoke(app, [*command, str(tmp_path / query), "-c", str(victim_case)]))
    assert says in line and "BytesIO" not in line
