"""Ctrl-C while an import re-matches the findings: the set is kept, the message says the
findings are not re-matched yet and which command finishes it (status 130), and it does."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from haven.cli import app

runner = CliRunner()


def test_ctrl_c_during_the_rematch_of_an_import_says_how_to_finish(tmp_path, monkeypatch):
    import haven.match.rematch as rematch_module

    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "note.txt").write_text("a benign note\n")
    case = tmp_path / "case"
    assert runner.invoke(app, ["scan", str(ev), "--case", str(case), "--workers", "1"]).exit_code == 0
    md5 = json.loads((case / "findings.jsonl").read_text())["md5"]
    listing = tmp_path / "feed.txt"
    listing.write_text(md5 + "\n")

    real = rematch_module.rematch

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rematch_module, "rematch", ctrl_c)
    r = runner.invoke(app, ["hashsets", "import", str(listing), "--name", "feed", "--case", str(case)])
    assert r.exit_code == 130
    text = " ".join(r.output.split())
    assert "not re-matched yet" in text and f"haven rematch --case {case}" in text
    assert "Traceback" not in r.output
    assert json.loads((case / "findings.jsonl").read_text())["finding"] == "other"

    monkeypatch.setattr(rematch_module, "rematch", real)
    r = runner.invoke(app, ["rematch", "--case", str(case)])
    assert r.exit_code == 0, r.output
    assert json.loads((case / "findings.jsonl").read_text())["finding"] == "known"
