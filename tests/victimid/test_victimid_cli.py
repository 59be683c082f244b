from __future__ import annotations

import json

from typer.testing import CliRunner

from haven.victimid.cli import victimid_app

runner = CliRunner()


def test_index_then_timeline_series_and_search_from_the_command_line(evidence_dir, tmp_path):
    case = tmp_path / "case"
    r = runner.invoke(victimid_app, ["index", "--case", str(case), str(evidence_dir), "--parts", "metadata,scene"])
    assert r.exit_code == 0, r.output
    assert "indexed 10" in r.output
    r = runner.invoke(victimid_app, ["timeline", "--case", str(case)])
    assert r.exit_code == 0 and "SER-42" in r.output
    out = tmp_path / "map.geojson"
    assert runner.invoke(victimid_app, ["geojson", "--case", str(case), "--out", str(out)]).exit_code == 0
    r = runner.invoke(victimid_app, ["scene", "--case", str(case), str(evidence_dir / "room_b_2.jpg"), "--top", "3"])
    assert r.exit_code == 0 and "room_b_1.jpg" in r.output
    r = runner.invoke(victimid_app, ["series", "build", "--case", str(case)])
    assert r.exit_code == 0 and "automatic series" in r.output
    assert "ms per photo" in r.output
    r = runner.invoke(victimid_app, ["series", "build", "--case", str(case), "--json"])
    cost = json.loads(r.output)["scene_linking"]
    assert r.exit_code == 0 and cost["pairs_verified"] > 0 and cost["media"] >= 8


def test_errors_are_messages_not_tracebacks(tmp_path):
    r = runner.invoke(victimid_app, ["scene", "--case", str(tmp_path / "nope"), "--media", "1"])
    text = " ".join(r.output.split())
    assert r.exit_code == 2 and "not a haven case" in text and "Traceback" not in text


def test_every_command_has_an_example():
    for cmd in ("index", "timeline", "geojson", "scene", "ocr-search"):
        r = runner.invoke(victimid_app, [cmd, "--help"])
        assert "Example: haven" in r.output, cmd
