"""A scan of phone extractions: items under their path on the phone, the extraction's own
record in summary.json (beside its seizure), kept across a rescan."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from haven.cli import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evidence"))
from disk_fixtures import picture  # noqa: E402
from phonekit import android_backup, app_manifest  # noqa: E402


def _cli(*args):
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output


def test_android_backup_items_and_its_record_reach_the_report(tmp_path):
    ev = tmp_path / "phone1"
    ev.mkdir()
    (ev / "backup.ab").write_bytes(android_backup({
        "apps/org.example.camera/_manifest": app_manifest("org.example.camera", 33),
        "apps/org.example.camera/f/a.jpg": picture(71),
        "shared/0/DCIM/b.jpg": picture(72)}))
    case = tmp_path / "case"
    for _ in range(2):  # the second scan skips every item but still keeps the record
        _cli("scan", ev, "--case", case, "--workers", "1")
        paths = {json.loads(line)["path"] for line in (case / "findings.jsonl").open()}
        assert "phone1/backup.ab/data/data/org.example.camera/files/a.jpg" in paths
        assert "phone1/backup.ab/storage/emulated/0/DCIM/b.jpg" in paths
        [seizure] = json.loads((case / "summary.json").read_text())["seizures"]
        [record] = seizure["extractions"]
        assert record["path"] == "phone1/backup.ab" and record["kind"] == "android-backup"
        assert record["metadata"]["packages"] == ["org.example.camera"]
        assert record["metadata"]["android_api_levels"] == [33]


def test_ios_backup_items_and_device_reach_the_report(tmp_path):
    from phonekit import ios_backup

    ev = tmp_path / "seizure"
    ios_backup(ev / "backup-1", {("CameraRollDomain", "Media/DCIM/100APPLE/IMG_0001.JPG"): picture(73)})
    case = tmp_path / "case"
    _cli("scan", ev, "--case", case, "--workers", "1")
    paths = {json.loads(line)["path"] for line in (case / "findings.jsonl").open()}
    assert "seizure/backup-1/CameraRollDomain/Media/DCIM/100APPLE/IMG_0001.JPG" in paths
    [record] = json.loads((case / "summary.json").read_text())["seizures"][0]["extractions"]
    assert record["kind"] == "ios-backup" and record["path"] == "seizure/backup-1"
    assert record["metadata"]["product_type"] == "iPhone14,2"
    assert record["metadata"]["last_backup_date"] == "2025-03-14T09:26:53Z"


def test_encrypted_android_backup_opens_with_scan_passwords(tmp_path):
    ev = tmp_path / "phone2"
    ev.mkdir()
    (ev / "backup.ab").write_bytes(android_backup({"shared/0/DCIM/b.jpg": picture(74)},
                                                  password="correct horse"))
    pw = tmp_path / "pw.txt"
    pw.write_text("nope\ncorrect horse\n")
    case = tmp_path / "case"
    _cli("scan", ev, "--case", case, "--workers", "1", "--passwords", pw)
    findings = {json.loads(line)["path"]: json.loads(line) for line in (case / "findings.jsonl").open()}
    assert "phone2/backup.ab/storage/emulated/0/DCIM/b.jpg" in findings
    assert findings["phone2/backup.ab"]["finding"] != "error"
    assert "correct horse" not in (case / "summary.json").read_text()


def test_encrypted_ios_backup_decrypted_with_scan_passwords(tmp_path):
    from phonekit import ios_backup

    ev = tmp_path / "seizure"
    ios_backup(ev / "bk", {("CameraRollDomain", "Media/DCIM/100APPLE/IMG_0002.JPG"): picture(75)},
               password="s3cret phrase")
    pw = tmp_path / "pw.txt"
    pw.write_text("s3cret phrase\n")
    case = tmp_path / "case"
    _cli("scan", ev, "--case", case, "--workers", "1", "--passwords", pw)
    findings = {json.loads(line)["path"]: json.loads(line) for line in (case / "findings.jsonl").open()}
    item = findings["seizure/bk/CameraRollDomain/Media/DCIM/100APPLE/IMG_0002.JPG"]
    assert item["mime"] == "image/jpeg" and item["flags"].get("unlocked") is True
    [record] = json.loads((case / "summary.json").read_text())["seizures"][0]["extractions"]
    assert record["metadata"]["decrypted"] is True
    for name in ("summary.json", "findings.jsonl", "findings.csv"):
        assert "s3cret" not in (case / name).read_text()

