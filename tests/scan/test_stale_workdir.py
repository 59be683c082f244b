"""What a scan leaves in the case directory when it cannot finish: a scan killed hard (SIGKILL,
power cut) leaves its temporary folder of container members, which the next scan of the case,
holding its lock, removes; a scan refused for a wrong --library makes no case at all."""

from __future__ import annotations

from typer.testing import CliRunner

from haven.cli import app
from haven.scan.pipeline import remove_stale_workdirs

runner = CliRunner()


def test_the_next_scan_removes_a_killed_scans_temporary_folders(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "note.txt").write_text("hello\n")
    case = tmp_path / "case"
    args = ["scan", str(ev), "--case", str(case), "--workers", "1"]
    assert runner.invoke(app, args).exit_code == 0
    # what a killed scan leaves: a member copied out of an archive, and Spark's staging
    for name in ("scan-tmp-k1ll3d", "spark-staging-x1"):
        (case / name).mkdir()
        (case / name / "member.jpg").write_bytes(b"\xff\xd8 copy of evidence")
    (case / "scan-tmp-note").write_text("not a folder a scan makes: kept")
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert not (case / "scan-tmp-k1ll3d").exists() and not (case / "spark-staging-x1").exists()
    assert (case / "scan-tmp-note").is_file()
    assert not list(case.glob("scan-tmp-*/"))  # the scan's own folder is gone too
    assert remove_stale_workdirs(case) == 0


def test_a_scan_naming_no_library_fails_before_making_a_case(tmp_path):
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "note.txt").write_text("hello\n")
    case = tmp_path / "case"
    r = runner.invoke(app, ["scan", str(ev), "--case", str(case), "--library",
                            str(tmp_path / "nowhere"), "--workers", "1"])
    assert r.exit_code == 2 and "is not a hash library" in " ".join(r.output.split())
    assert not case.exists()
