"""A deleted file whose blocks a live file took reaches the report as an `other` finding with
an "overwritten" note, never hashed with the live file's content."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from haven.cli import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evidence"))
from test_disk_reference import ext4_with_reused_blocks, tsk_fates  # noqa: E402


def _cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output


def test_a_deleted_file_whose_blocks_were_reused_is_an_other_finding_with_a_note(tmp_path):
    image = ext4_with_reused_blocks(tmp_path)
    gone = [p for p, (fate, _) in tsk_fates(image).items() if fate == "overwritten"]
    assert gone
    case = tmp_path / "case"
    _cli("scan", image, "--case", case, "--workers", "1")
    findings = {json.loads(line)["path"]: json.loads(line) for line in (case / "findings.jsonl").open()}
    for path in gone:
        row = findings[f"ext4.img/{path}"]
        assert row["finding"] == "other" and row["md5"] is None
        assert any(n.startswith("overwritten:") for n in row["notes"]), row["notes"]
