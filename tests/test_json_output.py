"""`--json` on the commands that list or summarise: stdout is one JSON document, nothing else."""

from __future__ import annotations

import json

import numpy as np
import typer.main
from PIL import Image
from typer.testing import CliRunner

from haven.cli import app

runner = CliRunner()

MUST_HAVE_JSON = [
    ("hashsets", "list"), ("library", "info"), ("scan",), ("report",), ("index",),
    ("victimid", "timeline"), ("victimid", "scene"), ("victimid", "ocr-search"),
    ("victimid", "faces", "list"), ("victimid", "faces", "cluster"), ("victimid", "faces", "find"),
    ("victimid", "series", "build"), ("victimid", "series", "list"),
    ("intel", "load"), ("intel", "resolve"), ("intel", "attribute"),
    ("refer", "build"), ("refer", "stats"), ("refer", "verify"), ("rematch",),
]


def test_listing_and_summarising_commands_have_json():
    root = typer.main.get_command(app)
    for path in MUST_HAVE_JSON:
        command = root
        for name in path:
            command = command.commands[name]
        opts = {o for p in command.params for o in p.opts}
        assert {"--json", "-j"} <= opts, f"haven {' '.join(path)} has no --json/-j"


def _json(args: list[str]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_case_commands_print_parseable_json(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(ev / f"p{i}.png")
    (ev / "note.txt").write_text("hello\n")
    sets = tmp_path / "set.txt"
    import hashlib

    sets.write_text(hashlib.md5(b"hello\n").hexdigest() + "\n")
    case = tmp_path / "case"
    assert runner.invoke(app, ["hashsets", "import", str(sets), "-n", "notes", "-c", str(case)]).exit_code == 0

    scanned = _json(["scan", str(ev), "-c", str(case), "-w", "1", "-j"])
    assert scanned["scan"]["items"] == 4 and scanned["summary"]["by_finding"]["known"] == 1

    listed = _json(["hashsets", "list", "-c", str(case), "--json"])
    assert [(s["name"], s["entries"], s["version"]) for s in listed] == [("notes", 1, 1)]

    reported = _json(["report", "-c", str(case), "-j"])
    assert reported["summary"]["items"] == 4

    indexed = _json(["index", str(ev), "-c", str(case), "--parts", "metadata", "-j"])
    assert indexed["indexed"] == 3
    timeline = _json(["victimid", "timeline", "-c", str(case), "-j"])
    assert timeline == []  # generated pictures carry no capture time
    assert _json(["victimid", "faces", "list", "-c", str(case), "-j"]) == []
    built = _json(["victimid", "series", "build", "-c", str(case), "-j"])
    assert "links" in built and "automatic_series" in built

    sets.write_text(hashlib.md5(b"hello\n").hexdigest() + "\n" + hashlib.md5(b"x").hexdigest() + "\n")
    assert runner.invoke(app, ["hashsets", "import", str(sets), "-n", "notes", "-c", str(case)]).exit_code == 0
    rematched = _json(["rematch", "-c", str(case), "--all", "-j"])
    assert rematched["changed"] == 0 and rematched["items_checked"] >= 1


def test_library_info_json(tmp_path):
    lib = tmp_path / "lib"
    assert runner.invoke(app, ["library", "create", str(lib)]).exit_code == 0
    sets = tmp_path / "set.txt"
    sets.write_text("d41d8cd98f00b204e9800998ecf8427e\n")
    assert runner.invoke(app, ["library", "import", str(lib), str(sets), "-n", "s"]).exit_code == 0
    info = _json(["library", "info", str(lib), "--quick", "-j"])
    assert [s["name"] for s in info["sets"]] == ["s"] and info["stats"]["entries"] == 1
