"""The conventions every `haven` command shares: -h, --version, short options, one-line errors."""

from __future__ import annotations

import os

import typer
from typer.testing import CliRunner

from haven import __version__
from haven.cli import app
from haven.commandline import HavenGroup
from haven.errors import HavenError

runner = CliRunner()


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"haven {__version__}"


def test_short_help_on_every_level():
    for args in (["-h"], ["scan", "-h"], ["victimid", "faces", "find", "-h"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, args
        assert "Usage: " in result.output and "Example" in result.output


def test_short_options_are_the_long_ones(tmp_path):
    missing = tmp_path / "nowhere"
    short = runner.invoke(app, ["hashsets", "list", "-c", str(missing)])
    long = runner.invoke(app, ["hashsets", "list", "--case", str(missing)])
    assert short.exit_code == long.exit_code == 2
    assert short.output == long.output
    assert "-c, --case PATH" in runner.invoke(app, ["scan", "-h"]).output


def test_usage_errors_are_one_line():
    result = runner.invoke(app, ["scan", "--bogus", "x"])
    assert result.exit_code == 2
    assert _lines(result.output) == [
        "error: No such option: --bogus (`haven scan -h` shows the usage)"]
    result = runner.invoke(app, ["scan", "--case", "c"])
    assert _lines(result.output) == [
        "error: Missing argument 'EVIDENCE'. (`haven scan -h` shows the usage)"]


def _app_raising(exc: BaseException) -> typer.Typer:
    demo = typer.Typer(cls=HavenGroup)

    @demo.command()
    def boom() -> None:
        """Raise."""
        raise exc

    @demo.command()
    def other() -> None:
        """Another command, so `boom` is a sub-command."""

    return demo


def test_unexpected_error_is_one_line_naming_the_details_file(monkeypatch):
    monkeypatch.delenv("HAVEN_DEBUG", raising=False)
    result = runner.invoke(_app_raising(ValueError("bad\nthing")), ["boom"])
    assert result.exit_code == 1
    lines = _lines(result.output)
    assert len(lines) == 1 and "Traceback" not in result.output
    assert lines[0].startswith("error: internal error (ValueError: bad thing)")
    details = lines[0].split("details in ")[1].split(";")[0]
    with open(details) as f:
        assert "Traceback" in f.read()
    os.unlink(details)


def test_haven_and_os_errors_are_one_line():
    result = runner.invoke(_app_raising(HavenError("case is locked")), ["boom"])
    assert (result.exit_code, _lines(result.output)) == (2, ["error: case is locked"])
    result = runner.invoke(_app_raising(PermissionError(13, "Permission denied", "/ro/x")), ["boom"])
    assert (result.exit_code, _lines(result.output)) == (2, ["error: Permission denied: /ro/x"])


def test_debug_shows_the_exception(monkeypatch):
    monkeypatch.setenv("HAVEN_DEBUG", "1")
    result = runner.invoke(_app_raising(ValueError("bad")), ["boom"])
    assert isinstance(result.exception, ValueError)


def test_ctrl_c_exits_130():
    result = runner.invoke(_app_raising(KeyboardInterrupt()), ["boom"])
    assert result.exit_code == 130
    assert _lines(result.output) == ["error: interrupted"]


def _all_commands(command, path=()):
    yield path, command
    subs = getattr(command, "commands", {})
    for name in list(subs):
        yield from _all_commands(subs[name], (*path, name))


def test_quick_value_conversion_gives_what_typer_gives(tmp_path):
    """Every parameter of every command converts values as Typer's own (pydantic) conversion
    does, results and refusals alike (`haven.commandline._QuickValues`)."""
    from typer._click import Context
    from typer._click.exceptions import BadParameter
    from typer._coercion import build_runtime_param
    from typer.main import get_command

    from haven.commandline import _QuickValues

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    samples = ["0", "31", "256", "257", "-1", "007", "1.5", "2.50", "1e3", " 3", "abc", "",
               "local", str(a_file), str(tmp_path), str(tmp_path / "missing"), 0, 31, 1.0,
               True, tmp_path, a_file]
    checked = 0
    for path, command in _all_commands(get_command(app)):
        ctx = Context(command, info_name=" ".join(("haven", *path)))
        params = [*command.params, command.get_help_option(ctx)]
        for param in filter(None, params):
            if not hasattr(param, "type_descriptor"):
                continue
            assert isinstance(param._runtime_param, _QuickValues), (path, param.name)
            full = build_runtime_param(param.type_descriptor)
            multi = param.multiple or param.nargs == -1
            values = [None, *(([v], (v, v)) if multi else (v,) for v in samples)]
            for value in values:
                for v in (value if isinstance(value, tuple) else (value,)):
                    got, want = [], []
                    for conversion, into in ((param._runtime_param, got), (full, want)):
                        try:
                            into.append(("value", conversion.coerce(v, param=param, ctx=ctx)))
                        except BadParameter as exc:
                            into.append(("refused", exc.format_message()))
                    assert got == want, (path, param.name, v)
                    checked += 1
    assert checked > 1000


def test_a_command_run_in_a_process_not_its_own_leaves_the_collector_alone(tmp_path):
    """`haven scan` holds and freezes garbage collection only in a process of its own (the
    console script); invoked in-process (tests, embedding) it changes nothing."""
    import gc

    from PIL import Image

    ev = tmp_path / "evidence"
    ev.mkdir()
    Image.new("RGB", (64, 48), (200, 10, 10)).save(ev / "red.png")
    frozen = gc.get_freeze_count()
    result = runner.invoke(app, ["scan", str(ev), "--case", str(tmp_path / "case"),
                                 "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert gc.isenabled() and gc.get_freeze_count() == frozen
